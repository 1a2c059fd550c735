"""README.md's 'Layout' block describes the package as it is: every module or folder it names
exists, and every top-level module and subpackage of samhq_train/ is named."""

import re

from tests.documentation import ROOT, section

PACKAGE = ROOT / "samhq_train"
# a folder (name/ before a space, a comma, a bracket or the line's end) or a module (name.py)
NAMED = re.compile(r"(?<![\w./])((?:[\w.+-]+/)*[\w.+-]+(?:/(?=[\s,;:)]|$)|\.py\b))", re.M)


def layout_block() -> str:
    text = section("Layout")
    return text.split("```")[1]


def named_paths(block: str) -> set[str]:
    return {m.group(1).rstrip("/") for m in NAMED.finditer(block)}


def exists(name: str) -> bool:
    """A path from the repository root, or a module / folder anywhere under samhq_train/ or
    scripts/."""
    return (ROOT / name).exists() or any(PACKAGE.rglob(name)) or any(
        (ROOT / "scripts").rglob(name))


def test_every_named_module_exists():
    missing = sorted(n for n in named_paths(layout_block()) if not exists(n))
    assert not missing, f"README.md 'Layout' names what is not there: {missing}"


def test_every_top_level_module_is_named():
    names = {n.split("/")[-1] for n in named_paths(layout_block())}
    top = {
        p.name for p in PACKAGE.iterdir()
        if not p.name.startswith(("_", ".")) and (p.suffix == ".py" or p.is_dir())
    }
    unnamed = sorted(n for n in top if n not in names and n.removesuffix(".py") not in names)
    assert not unnamed, f"README.md 'Layout' does not name samhq_train/{unnamed}"


def test_the_pattern_finds_folders_and_modules():
    found = named_paths("samhq_train/cli/  x (a.py, sam1/ sam2/) I/O mean/std b.py\n  c/")
    assert found == {"samhq_train/cli", "a.py", "sam1", "sam2", "b.py", "c"}
