"""Every command-line flag the pages name (`--int8`, `--max-pixels N`, in prose as in code
blocks) is an option of one of the project's commands or scripts, or a flag of another tool the
pages show (EXTERNAL): a renamed or removed option cannot stay documented. The ```bash examples
are parsed by their own command (test_argparse_commands.py); this covers the flags named in the
text around them."""

from __future__ import annotations

import re

from tests.documentation import ROOT, pages
from tests.test_doc_links import DATA_PAGES

FLAG = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
ADD_ARGUMENT = re.compile(r"add_argument\(\s*(?:\"-\w\",\s*)?\"(--[\w-]+)\"(.{0,400}?)\)", re.S)
# flags of other tools the pages show -> the tool
EXTERNAL = {
    "--no-build-isolation": "pip", "--no-deps": "pip",
    "--nnodes": "torchrun", "--nproc-per-node": "torchrun", "--node-rank": "torchrun",
    "--master-addr": "torchrun", "--master-port": "torchrun",
    "--nodes": "SLURM", "--ntasks-per-node": "SLURM", "--gpus-per-node": "SLURM",
    "--multirun": "Hydra", "--config-dir": "Hydra", "--config-path": "Hydra", "--info": "Hydra",
    "--cfg": "Hydra",
    "--track_object_appearing_later_in_video": "Meta's sam2 vos_inference.py",
    "--video_list_file": "Meta's sam2 vos_inference.py",
    "--per_obj_png_file": "Meta's sam2 vos_inference.py",
}
# every argparse command's own, and the suites scripts/benchmark.py dispatches by a flag
ALWAYS = {"--help", "--cpu-table"}


def project_flags() -> set[str]:
    """The options every argparse parser of samhq_train/ and scripts/ declares (a
    BooleanOptionalAction's --no-<name> too)."""
    files = [*(ROOT / "samhq_train").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]
    flags = set()
    for path in files:
        for flag, rest in ADD_ARGUMENT.findall(path.read_text()):
            flags.add(flag)
            if "BooleanOptionalAction" in rest.split("add_argument")[0]:
                flags.add("--no-" + flag[2:])
    return flags


def documented_flags() -> dict[str, str]:
    """flag -> the first page:line naming it."""
    found: dict[str, str] = {}
    for path in [*pages(), *DATA_PAGES]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for flag in FLAG.findall(line):
                found.setdefault(flag, f"{path.relative_to(ROOT)}:{n}")
    return found


def test_every_documented_flag_is_an_option():
    known = project_flags() | set(EXTERNAL) | ALWAYS
    unknown = {f: where for f, where in documented_flags().items() if f not in known}
    assert not unknown, f"flags the pages name that no command has: {unknown}"


def test_the_flags_are_found():
    """The patterns see what they should (a broken one would check nothing)."""
    flags = project_flags()
    assert {"--checkpoint", "--int8", "--max-pixels", "--no-verify", "--stop-at"} <= flags
    assert "--int8" in documented_flags() and "--no-verify" in documented_flags()
    assert FLAG.findall("`--to onnx` --x-y, a-b --c_d") == ["--to", "--x-y", "--c_d"]
