"""``python -m ssmenv.sources``: print the sources table of docs/sources.md."""

from ssmenv.sources import markdown_table

print(markdown_table())
