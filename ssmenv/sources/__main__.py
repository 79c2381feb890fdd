"""``python -m ssmenv.sources``: print the README's sources table."""

from ssmenv.sources import markdown_table

print(markdown_table())
