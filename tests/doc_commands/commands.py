"""Every command the documentation shows (the ```bash blocks of README.md and docs/*.md:
tests.documentation.documented_commands; the code blocks of the data pages: data_page_commands)
and every example in the commands' docstrings / --help
and in the configs' comments still works as written: nothing documented can drift from the code
unnoticed. This module finds them, says what is done with each (action) and makes the stand-in
files; the checks are by command kind:

- test_hydra_commands.py: Hydra commands (samhq-train / python train.py, samhq-evaluate /
  scripts/evaluate.py, samhq-make-demo-data): the overrides compose from the shipped configs and
  pass check_config; with every file present, a training command also passes train.py's whole
  check stage (check_inputs: model source, outputs), an evaluation builds its model (a checkpoint
  of another variant than `model=` is refused there).
- test_argparse_commands.py: the example's arguments parse (the command's own parser, stopped
  before any work); samhq-export, samhq-predict and samhq-video-eval then run for real on tiny
  generated files.
- test_command_extraction.py: every page and ```bash block gives commands, the extraction finds
  what it should.
- test_documented_flags.py: every --flag the pages name, in prose too, is an option of a
  project command or script (or of another tool the pages show).
- test_documented_keys.py: every `a.b=...` override the pages write, in prose too, is a key of
  a shipped config.

Placeholders that name a small file (a run's last.ckpt, an HQ-only file and its base, an exported
.pth, a photo, a prompt folder, video mask folders, an output folder) are replaced by tiny
generated stand-ins: the demo base's. What stays a placeholder (PLACEHOLDERS: files only a user
has) leaves its command composed / parsed only; NOT_CHECKED lists the commands that are not
this project's.

`python -m tests.doc_commands.commands` prints the list of commands and what is done with each.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.documentation import FENCE, PROGRAMS, ROOT, Command, commands_in, documented_commands
from tests.test_doc_links import DATA_PAGES

CONF = ROOT / "samhq_train" / "conf"
DEMO_BASE = ROOT / "data" / "demo_base" / "vit_demo_base.safetensors"

# what only a user has: commands holding one are composed / parsed, not run (and why)
PLACEHOLDERS = {
    "/path/": "an official checkpoint or a dataset the user supplies",
    "...": "settings the example leaves out",
    "$": "a cluster launcher's environment",
    "cuda": "needs a GPU",
}
# commands that are not this project's: not checked here
NOT_CHECKED = {
    "pip": "installs packages",
    "SAM2_BUILD_CUDA=0": "installs a reference package",
    "pytest": "the test suite itself",
    "ruff": "the linter",
}
# argparse commands only parsed, although every file is there (and why)
PARSE_ONLY = {
    "amg": "segment everything takes about 15 s per image on the CPU",
    "app": "serves a page until stopped",
    "benchmark": "a benchmark: minutes",
    "check_parity": "needs an official checkpoint and the reference packages",
    "concept": "needs Meta's sam3.pt and its merges file (tests/inference/test_concept_command.py"
    " runs it on stand-ins)",
    "make_demo_base": "trains the demo base: minutes",
    "video": "run for real in tests/inference/video/test_readme_video.py (its own stand-ins)",
}

# argparse commands run for real on the stand-in files
RUN = {"export", "predict", "video_eval", "video_concept_eval"}
# commands that run for real elsewhere, on their own stand-ins: (program, a flag it has) -> where
RUN_ELSEWHERE = {
    ("samhq-video-eval", "--checkpoint"): "tests/inference/video/test_vos_benchmark.py",
    ("samhq-video-concept-eval", "--checkpoint"): "tests/cli/test_video_concept_eval.py",
}



# ---- finding the commands -------------------------------------------------------------------
def _docstring_files() -> list[Path]:
    """Every command's module: train.py, the installed commands' and the scripts'."""
    cli = [p for p in sorted((ROOT / "samhq_train" / "cli").glob("*.py")) if p.stem != "__init__"]
    files = [ROOT / "train.py", *cli]
    files += [ROOT / "samhq_train" / "inference" / "amg_command.py"]
    files += [ROOT / "samhq_train" / "app" / "command.py"]
    files += [ROOT / "samhq_train" / "inference" / "video" / "command.py"]
    return files + sorted((ROOT / "scripts").glob("*.py"))


def docstring_commands() -> list[Command]:
    starts = (*PROGRAMS, "python scripts/")
    out = []
    for path in _docstring_files():
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        out += commands_in(doc.splitlines(), str(path.relative_to(ROOT)), starts)
    for path in sorted(CONF.rglob("*.yaml")):
        comments = [
            line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line
        ]
        out += commands_in(comments, str(path.relative_to(ROOT)), starts)
    return out


def data_page_commands() -> list[Command]:
    """The commands of the data pages' code blocks (data/demo_base/README.md's regenerate
    commands), an environment prefix (`PYTHONPATH=. `) dropped."""
    starts = (*PROGRAMS, "python scripts/")
    out = []
    for path in DATA_PAGES:
        for _, code in FENCE.findall(path.read_text()):
            lines = [re.sub(r"^\s*[A-Z_]+=\S*\s+", "", line) for line in code.splitlines()]
            out += commands_in(lines, str(path.relative_to(ROOT)), starts)
    return out


def all_commands() -> list[Command]:
    seen, out = set(), []
    for command in documented_commands() + data_page_commands() + docstring_commands():
        if command.text not in seen:
            seen.add(command.text)
            out.append(command)
    return out


def kind_of(command: Command) -> str:
    """train, eval, demo_data (Hydra commands) or argparse (the rest, NOT_CHECKED's included)."""
    return PROGRAMS.get(command.program, ("argparse", None))[0]


def placeholder_in(text: str) -> str | None:
    return next((p for p in PLACEHOLDERS if p in text), None)


def action(command: Command) -> str:
    """What the test does with the command (the list the note shows)."""
    first = command.text.split()[0]
    if first in NOT_CHECKED:
        return f"not checked: {NOT_CHECKED[first]}"
    kind, name = PROGRAMS.get(command.program, ("argparse", None))
    held = placeholder_in(substituted(command.text, {}))
    if kind in ("train", "eval", "demo_data"):
        if held:
            return f"composed + check_config ({PLACEHOLDERS[held]})"
        return {
            "train": "composed + train.py's checks (config, model source, outputs)",
            "eval": "composed + check_config + its model built",
            "demo_data": "composed",
        }[kind]
    name = name or command.program.split("/")[-1][:-3]
    if held:
        return f"parsed ({PLACEHOLDERS[held]})"
    elsewhere = [w for (p, f), w in RUN_ELSEWHERE.items() if p == command.program and f in
                 command.args]
    if elsewhere:
        return f"parsed (run for real in {elsewhere[0]})"
    if name in RUN and "onnx" in command.text:
        return "parsed (the ONNX export and its onnxruntime check take a minute on the CPU)"
    if name in RUN:
        return "run (tiny stand-in files)"
    return f"parsed ({PARSE_ONLY.get(name, 'an argparse script')})"


COMMANDS = all_commands()


# ---- the stand-in files ---------------------------------------------------------------------
STAND_INS = {  # placeholder as written -> stand-in file key (longest first when substituting)
    "outputs/<run>/checkpoints/interrupted.ckpt": "ckpt",
    "outputs/<run>/checkpoints/last.ckpt": "ckpt",
    "outputs/demo_clicks/checkpoints/last.ckpt": "ckpt",
    "exported/sam_hq_vit_b.pth": "sam_hq",
    "sam_hq_vit_b_hq.safetensors": "hq_only",
    "sam_vit_b_01ec64.pth": "base",
    "sam_hq_vit_b.pth": "sam_hq",
    "last.ckpt": "ckpt",
    "photo.jpg": "image",
    "images/": "images",
    "photos/": "images",
    "prompts/": "prompts",
    "DAVIS/Annotations/480p/bmx-trees": "video_sequence",
    "masks/bmx-trees": "video_sequence_pred",
    "DAVIS/": "video_gt",
    "predictions/": "video_pred",
    "saco_veval_sav_val.json": "veval_gt",
    "veval_preds.json": "veval_pred",
    "veval_masks/": "veval_masks",
}
OUTPUT_ARGS = ("--out", "--json")


def substituted(text: str, files: dict[str, str]) -> str:
    """The command with each stand-in placeholder (not under /path/) replaced by its file."""
    def swap(match: re.Match) -> str:
        word = match.group(0)
        key = STAND_INS.get(word.split("=", 1)[-1])
        if key is None:
            return word
        if key not in files:  # only listing: mark it as present
            return word.replace(word.split("=", 1)[-1], f"<{key}>")
        return word.replace(word.split("=", 1)[-1], files[key])
    return re.sub(r"\S+", swap, text)


def checkpoint_stand_ins(root: Path) -> dict[str, str]:
    """A demo-base training checkpoint (what a demo run's last.ckpt holds), its sam_hq and
    hq_only exports and the base: the stand-ins of the Hydra commands."""
    from samhq_train.files import file_sha256
    from samhq_train.inference import export_model
    from samhq_train.model import Provenance, build_sam_hq, trained_state_dict
    from samhq_train.model.formats.lightning import MODEL_PREFIX, PROVENANCE_KEY, STATE_KEY

    model = build_sam_hq("vit_demo_base", checkpoint=str(DEMO_BASE))
    provenance = Provenance(
        variant="vit_demo_base", base_checkpoint=str(DEMO_BASE),
        base_sha256=file_sha256(DEMO_BASE), policy="hq",
    )
    ckpt = root / "last.ckpt"
    torch.save({
        STATE_KEY: {MODEL_PREFIX + k: v for k, v in trained_state_dict(model, "hq").items()},
        PROVENANCE_KEY: provenance.to_dict(),
        "loops": {},
    }, ckpt)
    written = export_model(model, root / "exported", ["sam_hq", "hq_only"], verify=False)
    return {"ckpt": str(ckpt), "sam_hq": str(written["sam_hq"]),
            "hq_only": str(written["hq_only"]), "base": str(DEMO_BASE)}


def all_stand_ins(root: Path) -> dict[str, str]:
    """checkpoint_stand_ins, an image, a folder of images and a folder of prompt files, DAVIS
    folders, and a synthetic SA-Co/VEval GT with its predictions (a YT-VIS file and samhq-video
    output folders)."""
    from tests.evaluation.concept_video_data import write_veval_files
    from tests.evaluation.video_data import write_davis_root

    images, prompts = root / "images", root / "prompts"
    images.mkdir()
    prompts.mkdir()
    # as large as the examples' prompts (a box to x 900, y 1400)
    pixels = np.random.default_rng(0).integers(0, 255, (1536, 1024, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(images / "photo.jpg")
    (prompts / "photo.json").write_text(json.dumps({"boxes": [[10, 20, 90, 80]]}))
    davis, masks = write_davis_root(root / "video", {"bmx-trees": (40, 52, 4), "dogs": (30, 64, 3)})
    veval = write_veval_files(root / "veval")
    return {
        **checkpoint_stand_ins(root),
        "veval_gt": str(veval["gt"]), "veval_pred": str(veval["pred"]),
        "veval_masks": str(veval["masks"]),
        "video_gt": str(davis), "video_pred": str(masks),
        "video_sequence": str(davis / "Annotations" / "480p" / "bmx-trees"),
        "video_sequence_pred": str(masks / "bmx-trees"),
        "image": str(images / "photo.jpg"), "images": str(images), "prompts": str(prompts),
    }


def command_list() -> str:
    """The commands checked and what is done with each (Markdown)."""
    lines = ["| where | command | checked by |", "|---|---|---|"]
    for c in COMMANDS:
        lines.append(f"| {c.source} | `{c.text}` | {action(c)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(command_list())
