"""The documentation as the tests read it: README.md and the pages under docs/, and the commands
its ```bash blocks show (documented_commands).

Tests find what they check by a section's heading or a code block's content, never by the file
it sits in, so a section can move between pages without breaking them; a missing section still
fails (section() raises).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
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


# ---- the commands the pages show ------------------------------------------------------------
# a program as written -> (kind, what runs it)
PROGRAMS = {
    "python train.py": ("train", None),
    "samhq-train": ("train", None),
    "python scripts/evaluate.py": ("eval", None),
    "samhq-evaluate": ("eval", None),
    "python scripts/make_demo_data.py": ("demo_data", None),
    "samhq-make-demo-data": ("demo_data", None),
    "samhq-export": ("argparse", "export"),
    "python scripts/export.py": ("argparse", "export"),
    "samhq-predict": ("argparse", "predict"),
    "python scripts/predict.py": ("argparse", "predict"),
    "samhq-amg": ("argparse", "amg"),
    "samhq-concept": ("argparse", "concept"),
    "python scripts/amg.py": ("argparse", "amg"),
    "samhq-app": ("argparse", "app"),
    "python scripts/app.py": ("argparse", "app"),
    "samhq-make-demo-base": ("argparse", "make_demo_base"),
    "python scripts/make_demo_base.py": ("argparse", "make_demo_base"),
    "samhq-video-eval": ("argparse", "video_eval"),
    "samhq-video-concept-eval": ("argparse", "video_concept_eval"),
    "samhq-video": ("argparse", "video"),
}


@dataclass(frozen=True)
class Command:
    source: str  # where it is written
    text: str  # the command as written (continuations joined, comment dropped)

    @property
    def program(self) -> str | None:
        for prefix in sorted(PROGRAMS, key=len, reverse=True):
            if self.text == prefix or self.text.startswith(prefix + " "):
                return prefix
        match = re.match(r"python (scripts/\w+\.py)\b", self.text)
        return match and f"python {match.group(1)}"

    @property
    def args(self) -> list[str]:
        """The arguments, without a bare "..." (an example's "and so on")."""
        return [a for a in shlex.split(self.text[len(self.program):]) if a != "..."]


def _drop_comment(line: str) -> str:
    return re.split(r"\s+#\s|\s{3,}(?=[a-z(])", line, maxsplit=1)[0].strip()


def commands_in(lines: list[str], source: str, starts: tuple[str, ...]) -> list[Command]:
    """The commands in `lines` that begin with one of `starts`, continuation lines joined."""
    found, current = [], None
    for raw in lines:
        line = raw.strip()
        if current is not None:
            current += " " + line
        elif line.startswith(starts) and not re.search(r"\s\[", line.split("#")[0]):
            current = line  # (" [options]": a synopsis, not an example)
        else:
            continue
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        text = _drop_comment(current)
        current = None
        if text.split()[0].endswith(":") or text.endswith(":"):  # "samhq-export: what it does"
            continue
        found += [Command(source, part.strip()) for part in text.split(" && ")]
    return found


def block_commands(page: str, block: str) -> list[Command]:
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
    starts = tuple(line.split()[0] for line in lines if line.strip())
    return commands_in(lines, page, starts)


def documented_commands() -> list[Command]:
    """The commands of every ```bash block of README.md and docs/*.md, in page order."""
    return [c for page, block in code_blocks("bash") for c in block_commands(page, block)]
