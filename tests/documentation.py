"""The documentation as the tests read it: README.md and the pages under docs/.

Tests find what they check by a section's heading or a code block's content, never by the file
it sits in, so a section can move between pages without breaking them; a missing section still
fails (section() raises).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

HEADING = re.compile(r"^(#{1,6}) (.+)$")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def pages() -> list[Path]:
    """README.md, then docs/*.md in name order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def page_name(path: Path) -> str:
    """The page as the repository names it: README.md, docs/training.md."""
    return path.relative_to(ROOT).as_posix()


def documentation() -> str:
    """Every page's text, one after the other."""
    return "\n".join(path.read_text() for path in pages())


def code_blocks(language: str) -> list[tuple[str, str]]:
    """(page name, code) of every fenced block in `language` (```bash, ```python), in page order."""
    return [
        (page_name(path), code)
        for path in pages()
        for lang, code in FENCE.findall(path.read_text())
        if lang == language
    ]


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(line index, level, title) of each heading outside code blocks."""
    found, in_code = [], False
    for index, line in enumerate(text.splitlines()):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := HEADING.match(line)):
            found.append((index, len(match.group(1)), match.group(2).strip()))
    return found


def section(title: str) -> str:
    """The text under the heading `title` (any level, on any page) up to the next heading of the
    same or a higher level; AssertionError when no page or several have it."""
    hits = []
    for path in pages():
        text = path.read_text()
        lines = text.splitlines()
        headings = _headings(text)
        for n, (index, level, name) in enumerate(headings):
            if name != title:
                continue
            end = next((i for i, lv, _ in headings[n + 1:] if lv <= level), len(lines))
            hits.append("\n".join(lines[index:end]) + "\n")
    assert len(hits) == 1, f"{len(hits)} sections titled {title!r} in README.md and docs/*.md"
    return hits[0]


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces -> '-'."""
    kept = re.sub(r"[^\w\- ]", "", title.lower())
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a page's headings (a repeated one gets GitHub's -1, -2, ... suffix)."""
    seen: dict[str, int] = {}
    out = set()
    for _, _, title in _headings(path.read_text()):
        slug = anchor(title)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out
