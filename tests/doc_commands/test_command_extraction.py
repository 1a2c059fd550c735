"""The command extraction itself (tests/documentation.py's documented_commands,
tests/doc_commands/commands.py's docstring and config commands): every page and ```bash block
gives commands, and what should be found is found (a broken pattern would check nothing)."""

from __future__ import annotations

from tests.doc_commands.commands import COMMANDS, NOT_CHECKED
from tests.documentation import block_commands, code_blocks, documented_commands, page_name, pages

# documentation pages that show no command (every other page must: its commands are checked here)
# docs/versions.md: which releases the suite ran with (facts; nothing to run)
PAGES_WITHOUT_COMMANDS: set[str] = {"docs/versions.md"}


def test_every_page_and_bash_block_has_commands():
    """Each page of the documentation gives commands unless PAGES_WITHOUT_COMMANDS names it, and
    each ```bash block gives at least one: a page or block the extraction misses fails here."""
    shown = {c.source for c in documented_commands()}
    assert {page_name(p) for p in pages()} - shown == PAGES_WITHOUT_COMMANDS
    empty = [(page, block[:80]) for page, block in code_blocks("bash")
             if not block_commands(page, block)]
    assert not empty, f"```bash blocks without a command found: {empty}"


def test_the_readme_and_docstrings_have_commands():
    """The extraction finds what it should (a broken pattern would check nothing)."""
    texts = [c.text for c in COMMANDS]
    assert "python train.py" in texts and "pytest" in texts
    assert any(t.startswith("samhq-export --checkpoint") for t in texts)
    assert any(c.source.startswith("samhq_train/conf/") for c in COMMANDS)
    assert any(c.source == "samhq_train/cli/evaluate.py" for c in COMMANDS)
    regenerate = [c for c in COMMANDS if c.source == "data/demo_base/README.md"]
    assert len(regenerate) == 7 and all(
        c.program == "python scripts/make_demo_base.py" for c in regenerate), regenerate
    assert all(c.program or c.text.split()[0] in NOT_CHECKED for c in COMMANDS), [
        c.text for c in COMMANDS if not (c.program or c.text.split()[0] in NOT_CHECKED)
    ]
