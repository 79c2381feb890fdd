"""Staging hosts: replace these with yours. Each host's data can override any setting (README)."""

web = [
    "app-1.staging.example.internal",
]
