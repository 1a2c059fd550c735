"""Every relative link of README.md, docs/*.md and the data pages (data/README.md,
data/demo_base/README.md) (a file, a file's heading, a heading of the same page) points at
something that exists, with GitHub's heading anchors."""

import re
from pathlib import Path

import pytest

from tests.documentation import ROOT, anchor, anchors, page_name, pages

DATA_PAGES = [ROOT / "data" / "README.md", ROOT / "data" / "demo_base" / "README.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def local_links(path: Path) -> list[str]:
    """The link targets of a page outside code blocks and code spans, web addresses left out."""
    prose, in_code = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            prose.append(re.sub(r"`[^`]*`", "", line))
    targets = LINK.findall("\n".join(prose))
    return [t for t in targets if not re.match(r"[a-z]+:", t)]


def broken(path: Path, target: str) -> str | None:
    """Why `target`, written on page `path`, points at nothing (None when it resolves)."""
    file, _, fragment = target.partition("#")
    linked = (path.parent / file).resolve() if file else path
    shown = linked.relative_to(ROOT) if linked.is_relative_to(ROOT) else linked
    if not linked.exists():
        return f"no file {shown}"
    if fragment and fragment not in anchors(linked):
        return f"no heading with anchor #{fragment} in {shown}"
    return None


@pytest.mark.parametrize("path", pages() + DATA_PAGES, ids=page_name)
def test_links_resolve(path):
    problems = [f"{target}: {why}" for target in local_links(path)
                if (why := broken(path, target))]
    assert not problems, f"{page_name(path)}: " + "; ".join(problems)


def test_the_pages_link_each_other():
    """The check sees the links (a broken pattern would check nothing): the README's table links
    every docs page, and the pages link across with anchors."""
    readme_targets = set(local_links(ROOT / "README.md"))
    assert {f"docs/{p.name}" for p in pages()[1:]} <= readme_targets
    assert any("#" in t for p in pages()[1:] for t in local_links(p))


def test_anchor_follows_github():
    assert anchor("Fine-tune SAM 3's concept detector (text prompts)") == (
        "fine-tune-sam-3s-concept-detector-text-prompts")
    assert anchor("Evaluate on video (J&F)") == "evaluate-on-video-jf"
    assert anchor("Real SAM / SAM-HQ checkpoints") == "real-sam--sam-hq-checkpoints"


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## Its part\n\n[x](#its-part) [y](#no-part) [z](other.md)\n")
    assert broken(page, "#its-part") is None
    assert "no heading" in broken(page, "#no-part")
    assert "no file" in broken(page, "other.md")
