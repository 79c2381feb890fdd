"""Production hosts: replace these with yours.

Each host's data can override any setting (see the README's table).
"""

web = [
    "app-1.prod.example.internal",
    "app-2.prod.example.internal",
]
