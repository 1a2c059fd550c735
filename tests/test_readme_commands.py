"""Every command the documentation shows (the ```bash blocks of README.md and docs/*.md) and
every example in the commands' docstrings / --help and in the configs' comments still works as
written: nothing documented can drift from the code unnoticed.

Each command is run or checked without training:
- Hydra commands (samhq-train / python train.py, samhq-evaluate / scripts/evaluate.py,
  samhq-make-demo-data): the overrides compose from the shipped configs and pass check_config;
  with every file present, a training command also passes train.py's whole check stage
  (check_inputs: model source, outputs), an evaluation builds its model (a checkpoint of another
  variant than `model=` is refused there).
- argparse commands: the example's arguments parse (the command's own parser, stopped before any
  work); samhq-export, samhq-predict and samhq-video-eval then run for real on tiny generated
  files.
Placeholders that name a small file (a run's last.ckpt, an HQ-only file and its base, an exported
.pth, a photo, a prompt folder, video mask folders, an output folder) are replaced by tiny
generated stand-ins: the demo base's. What stays a placeholder (PLACEHOLDERS: files only a user
has) leaves its command composed / parsed only; NOT_CHECKED lists the commands that are not
this project's.

`python -m tests.test_readme_commands` prints the list of commands and what is done with each.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import re
import runpy
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.documentation import ROOT, code_blocks, page_name, pages

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
ENTRY_POINTS = {  # argparse command -> its main
    "export": "samhq_train.cli.export:main",
    "predict": "samhq_train.cli.predict:main",
    "amg": "samhq_train.inference.amg_command:main",
    "concept": "samhq_train.inference.concept_command:main",
    "app": "samhq_train.app.command:main",
    "make_demo_base": "samhq_train.cli.make_demo_base:main",
    "video_eval": "samhq_train.cli.video_eval:main",
    "video_concept_eval": "samhq_train.cli.video_concept_eval:main",
    "video": "samhq_train.inference.video.command:main",
}
# argparse commands run for real on the stand-in files
RUN = {"export", "predict", "video_eval", "video_concept_eval"}
# commands that run for real elsewhere, on their own stand-ins: (program, a flag it has) -> where
RUN_ELSEWHERE = {
    ("samhq-video-eval", "--checkpoint"): "tests/inference/video/test_vos_benchmark.py",
    ("samhq-video-concept-eval", "--checkpoint"): "tests/cli/test_video_concept_eval.py",
}


# ---- finding the commands -------------------------------------------------------------------
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


def _commands_in(lines: list[str], source: str, starts: tuple[str, ...]) -> list[Command]:
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


def _block_commands(page: str, block: str) -> list[Command]:
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
    starts = tuple(line.split()[0] for line in lines if line.strip())
    return _commands_in(lines, page, starts)


def documented_commands() -> list[Command]:
    """The commands of every ```bash block of README.md and docs/*.md, in page order."""
    return [c for page, block in code_blocks("bash") for c in _block_commands(page, block)]


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
        out += _commands_in(doc.splitlines(), str(path.relative_to(ROOT)), starts)
    for path in sorted(CONF.rglob("*.yaml")):
        comments = [
            line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line
        ]
        out += _commands_in(comments, str(path.relative_to(ROOT)), starts)
    return out


def all_commands() -> list[Command]:
    seen, out = set(), []
    for command in documented_commands() + docstring_commands():
        if command.text not in seen:
            seen.add(command.text)
            out.append(command)
    return out


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


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, str]:
    """A demo-base training checkpoint (what a demo run's last.ckpt holds), its exports, the base,
    an image, a folder of images and a folder of prompt files, DAVIS folders, and a synthetic
    SA-Co/VEval GT with its predictions (a YT-VIS file and samhq-video output folders)."""
    from samhq_train.files import file_sha256
    from samhq_train.inference import export_model
    from samhq_train.model import Provenance, build_sam_hq, trained_state_dict
    from samhq_train.model.formats.lightning import MODEL_PREFIX, PROVENANCE_KEY, STATE_KEY
    from tests.evaluation.concept_video_data import write_veval_files
    from tests.evaluation.video_data import write_davis_root

    root = tmp_path_factory.mktemp("stand_ins")
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
        "veval_gt": str(veval["gt"]), "veval_pred": str(veval["pred"]),
        "veval_masks": str(veval["masks"]),
        "video_gt": str(davis), "video_pred": str(masks),
        "video_sequence": str(davis / "Annotations" / "480p" / "bmx-trees"),
        "video_sequence_pred": str(masks / "bmx-trees"),
        "ckpt": str(ckpt), "sam_hq": str(written["sam_hq"]), "hq_only": str(written["hq_only"]),
        "base": str(DEMO_BASE), "image": str(images / "photo.jpg"), "images": str(images),
        "prompts": str(prompts),
    }


# ---- checking one command -------------------------------------------------------------------
def _overrides(args: list[str]) -> list[str]:
    return [a for a in args if not a.startswith("hydra.")]  # Hydra's own run settings


def _compose(config: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from samhq_train.config_defaults import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config, overrides=overrides)


def check_train(args: list[str], out: Path, complete: bool, monkeypatch) -> None:
    """The training command's config, checked as train.py checks it; a GPU command (trainer=gpu,
    ddp) as on a machine with 8 GPUs when this one has none."""
    from samhq_train.config_check import check_config
    from samhq_train.train import check_inputs

    cfg = _compose("train", [*_overrides(args), f"paths.output_dir={out}"])
    if cfg.trainer.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    check_inputs(cfg) if complete else check_config(cfg)
    if cfg.get("concept") is not None:  # experiment=concept_*: its own keys, read before any file
        from samhq_train.training.concept.run import concept_settings

        concept_settings(cfg)


def check_eval(args: list[str], out: Path, complete: bool) -> None:
    from samhq_train.config_check import check_config
    from samhq_train.model_from_config import build_model_from_config

    cfg = _compose("eval", [*_overrides(args), f"output_dir={out}"])
    check_config(cfg)
    if complete:
        build_model_from_config(
            cfg.model, purpose="evaluate", base_checkpoint=cfg.get("base_checkpoint")
        )


class _Parsed(BaseException):
    """Raised once the command's parser accepted the arguments: stop before any work."""


def _main_of(name: str | None, program: str):
    if name in ENTRY_POINTS:
        module, function = ENTRY_POINTS[name].split(":")
        return getattr(__import__(module, fromlist=[function]), function)
    return runpy.run_path(str(ROOT / program.split()[1]), run_name="readme_check")["main"]


def check_argparse(command: Command, args: list[str], out: Path, run: bool, monkeypatch) -> None:
    kind, name = PROGRAMS.get(command.program, ("argparse", None))
    main = _main_of(name, command.program)
    args = [str(out / Path(a).name) if prev in OUTPUT_ARGS else a
            for prev, a in zip(["", *args], args)]
    monkeypatch.setattr(sys, "argv", [command.program, *args])
    monkeypatch.chdir(out)  # default output folders (predictions/) land there
    if run:
        main()
        return
    original = argparse.ArgumentParser.parse_known_args  # parse_args calls it too

    def parse_then_stop(parser, args=None, namespace=None):
        try:
            _, extra = original(parser, args, namespace)
        except SystemExit as err:
            raise AssertionError(f"the arguments do not parse (exit {err.code})") from None
        if extra and sys._getframe(1).f_code.co_name == "parse_args":  # not parse_known_args'
            raise AssertionError(f"unrecognized arguments: {extra}")
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", parse_then_stop)
    with pytest.raises(_Parsed):
        main()


COMMANDS = all_commands()


@pytest.mark.parametrize("command", COMMANDS, ids=[c.text[:90] for c in COMMANDS])
def test_documented_command(command, stand_ins, tmp_path, monkeypatch):
    what = action(command)
    if what.startswith("not checked"):
        assert command.text.split()[0] in NOT_CHECKED
        return
    text = substituted(command.text, stand_ins)
    complete = placeholder_in(text) is None
    args = Command(command.source, text).args
    kind = PROGRAMS.get(command.program, ("argparse", None))[0]
    with contextlib.redirect_stdout(io.StringIO()):
        if kind == "train":
            check_train(args, tmp_path / "run", complete, monkeypatch)
        elif kind == "eval":
            check_eval(args, tmp_path / "eval", complete)
        elif kind == "demo_data":
            _compose("train", ["+data@demo_check=demo", *args])
        else:
            check_argparse(command, args, tmp_path, what.startswith("run"), monkeypatch)


# documentation pages that show no command (every other page must: its commands are checked here)
PAGES_WITHOUT_COMMANDS: set[str] = set()


def test_every_page_and_bash_block_has_commands():
    """Each page of the documentation gives commands unless PAGES_WITHOUT_COMMANDS names it, and
    each ```bash block gives at least one: a page or block the extraction misses fails here."""
    shown = {c.source for c in documented_commands()}
    assert {page_name(p) for p in pages()} - shown == PAGES_WITHOUT_COMMANDS
    empty = [(page, block[:80]) for page, block in code_blocks("bash")
             if not _block_commands(page, block)]
    assert not empty, f"```bash blocks without a command found: {empty}"


def test_the_readme_and_docstrings_have_commands():
    """The extraction finds what it should (a broken pattern would check nothing)."""
    texts = [c.text for c in COMMANDS]
    assert "python train.py" in texts and "pytest" in texts
    assert any(t.startswith("samhq-export --checkpoint") for t in texts)
    assert any(c.source.startswith("samhq_train/conf/") for c in COMMANDS)
    assert any(c.source == "samhq_train/cli/evaluate.py" for c in COMMANDS)
    assert all(c.program or c.text.split()[0] in NOT_CHECKED for c in COMMANDS), [
        c.text for c in COMMANDS if not (c.program or c.text.split()[0] in NOT_CHECKED)
    ]



def test_export_help_lists_every_target_and_its_file(capsys):
    """samhq-export --help is made from EXPORT_TARGETS, export_paths and the format records."""
    from samhq_train.cli.export import parse_args
    from samhq_train.inference.export import EXPORT_TARGETS, export_paths
    from samhq_train.model import FORMAT_ALIASES

    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in help_text.splitlines()
            if line.startswith("  ") and line.split()[0] in EXPORT_TARGETS}
    assert set(rows) == set(EXPORT_TARGETS)
    for target, path in export_paths(".", "<name>").items():
        assert rows[target].rstrip("/") == path.name
    assert all(f'"{alias}"' in help_text for alias in FORMAT_ALIASES)


def command_list() -> str:
    """The commands checked and what is done with each (Markdown)."""
    lines = ["| where | command | checked by |", "|---|---|---|"]
    for c in COMMANDS:
        lines.append(f"| {c.source} | `{c.text}` | {action(c)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(command_list())
