"""The shell examples of README.md and docs/: each ``sh`` block says, in its title (shown on the
site above the block), where it runs as written:

- ``Runs in the demo``, ``Runs beside the demo``: with ``make demo`` up, from the checkout
  (``python -m tests.demo_docs`` runs them against it);
- ``Runs anywhere``: from the checkout, nothing running;
- ``Runs on this machine...``: the lab, the tests, the bench (root, hosts of their own);
- ``Needs AWS...``, ``Needs your registry``, ``On your control host``, ``In your CI``: real
  accounts and hosts, which no test here has.

``commands`` splits a block into the commands it runs (continuations joined, here-documents
skipped, pipelines and lists split), for the static checks of tests/unit/test_docs_examples.py.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

#: What a block's title may say (a title starts with one of them).
RUNS_IN_DEMO = ("Runs in the demo", "Runs beside the demo", "Runs anywhere")
RUNS_HERE = ("Runs on this machine",)
NEEDS = ("Needs AWS", "Needs your registry", "On your control host", "In your CI")
TITLES = (*RUNS_IN_DEMO, *RUNS_HERE, *NEEDS)

_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>.*)$")
_HEREDOC = re.compile(r"<<-?\s*'?(?P<word>\w+)'?")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    title: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(pages: tuple[Path, ...] = PAGES) -> list[Block]:
    """Every fenced block of the pages, with its language and title."""
    found = []
    for page in pages:
        lines = page.read_text().split("\n")
        at = 0
        while at < len(lines):
            opening = _FENCE.match(lines[at])
            if not opening:
                at += 1
                continue
            info, indent = opening["info"].strip(), len(opening["indent"])
            end = at + 1
            while not lines[end].strip().startswith("```"):
                end += 1
            title = re.search(r'title="([^"]*)"', info)
            body = "\n".join(line[indent:] for line in lines[at + 1 : end])
            found.append(Block(page, at + 1, info.split(" ")[0], title[1] if title else "", body))
            at = end + 1
    return found


def shell_blocks() -> list[Block]:
    return [b for b in blocks() if b.language == "sh"]


def commands(text: str) -> list[list[str]]:
    """The commands of a shell block, each as its words (``VAR=value`` prefixes dropped)."""
    joined = text.replace("\\\n", " ")
    lines = iter(joined.split("\n"))
    found = []
    for line in lines:
        heredoc = _HEREDOC.search(line)
        if heredoc:  # its body is a file's content, not commands
            for body in lines:
                if body.strip() == heredoc["word"]:
                    break
            line = line[: heredoc.start()]
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token and set(token) <= set(";&|()<>"):
                if token in (">", ">>", "<") or not words:
                    words.append(token) if words else None
                    continue
                found.append(words)
                words = []
            else:
                words.append(token)
    commands = []
    for words in found:
        words = [w for w in words if w not in (">", ">>", "<")]
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def created() -> set[str]:
    """Files the pages show for you to write: a block whose first line is a comment naming the
    file (``# inventories/shop.py: its hosts``)."""
    names = set()
    for block in blocks():
        first = block.text.split("\n", 1)[0]
        named = re.match(r"#\s*([\w./~-]+\.\w+)", first)
        if named:
            names.add(named[1])
    return names
