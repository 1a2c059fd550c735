"""samhq-export: SAM-HQ weights for the official code, transformers, safetensors users and ONNX
runtimes.

    samhq-export --checkpoint outputs/<run>/checkpoints/last.ckpt \\
        --to sam_hq transformers hq_only --out exported/
    samhq-export --checkpoint sam_hq_vit_b_hq.safetensors --base sam_vit_b_01ec64.pth \\
        --to onnx --out exported/

--checkpoint takes any format load_checkpoint reads: a training .ckpt (its base SAM file is taken
from the path recorded in it, or from --base), an official SAM / SAM-HQ .pth, a transformers
directory, a full safetensors file, or an HQ-only or delta safetensors file together with --base.
It is read once. The targets (--to, several allowed) are listed below, each written under --out
as <name>... (default name sam_hq_<variant>), LoRA adapters merged into plain weights for every
target but those that keep what a run trained (see below). Every file is read back and compared with the model (ONNX: onnxruntime against torch).
A checkpoint without trained HQ parts (an official SAM / SAM 2.1 / SAM 3 file, a shipped demo
base) exports too (converting a base is a use), but the HQ parts the targets other than the
onnx_encoder ones write are then untrained: a note line says so.
Nothing existing is replaced unless --overwrite; the parent of --out must exist. Any problem (a
bad checkpoint, an output that cannot be written) is one line on stderr and exit status 2; a
failed export leaves none of its files behind. An ONNX file that onnxruntime runs differently
from torch (beyond the check's tolerance) is one line naming the graph, the output and the
difference, and exit status 3; the file is removed (--no-verify keeps a file unchecked).
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.export")

import argparse
import contextlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import torch

from samhq_train.constants import SAM3_DETECTOR_FILES
from samhq_train.errors import UserError, exit_on_user_error
from samhq_train.inference import EXPORT_TARGETS, export_model
from samhq_train.inference.command_options import add_weights_options, flag_hints
from samhq_train.inference.concept import NO_DETECTOR, file_without_detector
from samhq_train.inference.export import FOLDER_TARGETS, check_output_dir, export_paths
from samhq_train.inference.onnx_encoder_export import onnx_quantization
from samhq_train.model import (
    FORMAT_ALIASES,
    CheckpointError,
    inspect,
    load_checkpoint_with_provenance,
    policy_of,
)
from samhq_train.model.formats import RECORDS
from samhq_train.model.sam3.concept.detector import NoDetectorError
from samhq_train.output_check import OutputError

# the opsets the models export at: attention (scaled_dot_product_attention) needs 14; the top is
# the newest torch's TorchScript exporter writes
MIN_OPSET = 14
MAX_OPSET = 20

# the targets that are not checkpoint formats (those are described by their format record)
ONNX_TARGETS = {
    "onnx": "prompt encoder + HQ mask decoder, any number of points (checked in onnxruntime)",
    "onnx_encoder": "the image encoder, fp32 (with onnx: a whole prediction without torch)",
    "onnx_encoder_fp16": "the image encoder in fp16 (float32 inputs and outputs)",
    "onnx_encoder_int8": "the image encoder with int8 linear layers (onnxruntime dynamic "
    "quantization: 1.7x faster than fp32 on CPUs, masks slightly less exact)",
    "onnx_concept": "SAM 3 text / exemplar prompts without torch: image encoder (both paths), "
    "text encoder, detector and prompt decoder graphs (needs a file with the detector)",
}


def target_lines() -> list[tuple[str, str, str]]:
    """(target, file written, what it holds) for every export target, from EXPORT_TARGETS, the
    file names of export_paths and the format records: the help cannot drift from the code."""
    paths = export_paths(".", "<name>")
    rows = []
    for target in EXPORT_TARGETS:
        record = RECORDS.get(target)
        if record is None:
            what = ONNX_TARGETS[target]
        else:
            what = record.summary.replace(", applied onto a base", "")
            what += "; needs a base to load" if record.needs_base else ""
            what += "".join(f'; the earlier name "{a}" is still accepted' for a in record.aliases)
        name = paths[target].name + ("/" if target in FOLDER_TARGETS else "")
        rows.append((target, name, what))
    return rows


def targets_help(width: int = 100) -> str:
    """The --to targets as the help lists them (target, file, what it holds), wrapped."""
    rows = target_lines()
    first = max(len(t) for t, _, _ in rows) + 2
    second = max(len(n) for _, n, _ in rows) + 2
    indent = " " * (2 + first + second)
    lines = ["targets (--to; written under --out):"]
    for target, name, what in rows:
        head = f"  {target:<{first}}{name:<{second}}"
        lines += textwrap.wrap(what, width, initial_indent=head, subsequent_indent=indent)
    unmerged = [t for t in EXPORT_TARGETS if t in RECORDS and not RECORDS[t].writes_merged]
    lines.append(f"LoRA adapters are merged into plain weights for every target but {', '.join(unmerged)}.")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=targets_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint", required=True, help="weights in any format load_checkpoint reads"
    )
    parser.add_argument(
        "--base", help="base SAM / SAM-HQ checkpoint (HQ-only or delta input, or a moved .ckpt base)"
    )
    add_weights_options(parser)
    parser.add_argument(
        "--to", nargs="+", required=True, choices=[*EXPORT_TARGETS, *FORMAT_ALIASES], help="targets to write"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--name", help="file name stem (default: sam_hq_<variant>)")
    parser.add_argument(
        "--onnx-opset",
        type=int,
        default=17,
        help=f"ONNX opset of the onnx targets ({MIN_OPSET}-{MAX_OPSET}; default 17)",
    )
    parser.add_argument(
        "--onnx-hq-token-only",
        action="store_true",
        help="ONNX returns the HQ mask alone (default: SAM mask + HQ mask)",
    )
    parser.add_argument(
        "--onnx-multimask",
        action="store_true",
        help="ONNX adds SAM's best of its 3 masks (official multimask_output)",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip reading the files back")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace target files that already exist"
    )
    given = sys.argv[1:] if argv is None else argv
    if given and not given[0].startswith("-"):  # samhq-predict's habit: the input first, bare
        parser.error(f"give the weights with their flag: --checkpoint {given[0]}")
    args = parser.parse_args(argv)
    if not MIN_OPSET <= args.onnx_opset <= MAX_OPSET:
        raise UserError(
            f"--onnx-opset {args.onnx_opset}: give an opset from {MIN_OPSET} to {MAX_OPSET} "
            "(default 17)"
        )
    for flag, given in (("--onnx-hq-token-only", args.onnx_hq_token_only),
                        ("--onnx-multimask", args.onnx_multimask)):
        if given and "onnx" not in args.to:  # it would change no file written
            raise UserError(
                f"{flag} sets the onnx target's prompt decoder, which --to {' '.join(args.to)} "
                "does not write: add onnx to --to, or leave the flag out"
            )
    return args


def untrained_hq_export_note(model, targets: list[str]) -> str | None:
    """The note line when `targets` write HQ parts (every format target, and onnx's HQ decoder)
    that the checkpoint does not hold trained (load_checkpoint's model.untrained_hq)."""
    why = getattr(model, "untrained_hq", None)
    with_hq = [t for t in targets if not t.startswith("onnx_encoder")]
    if why is None or not with_hq:
        return None
    return (
        f"note: {why}: the HQ parts written to {', '.join(with_hq)} are untrained; "
        "train them (python train.py) before using the export as SAM-HQ"
    )


def check_name(name: str | None) -> None:
    """--name is a file name stem: a folder in it would put the files outside --out."""
    if name is not None and (not name or name in (".", "..") or Path(name).name != name):
        raise OutputError(
            f"--name {name!r}: give a file name stem without a folder (the files go into --out)"
        )


def check_concept_file(args: argparse.Namespace) -> None:
    """--to onnx_concept: a SAM 3 file (or the --base of an HQ-only one) whose key names show no
    concept detector is one line before the weights are read (checkpoint_named words what the
    names do not tell, after loading; a file that cannot be inspected: the loader)."""
    try:
        info = inspect(args.checkpoint, args.format)
    except CheckpointError:
        return
    lacking = file_without_detector(info, args.base)
    if lacking is not None:
        flag = "--checkpoint" if lacking == Path(args.checkpoint) else "--base"
        raise UserError(
            f"{flag} {lacking} {NO_DETECTOR}: --to onnx_concept exports SAM 3's concept "
            f"detector; give {SAM3_DETECTOR_FILES}"
        )


@contextlib.contextmanager
def checkpoint_named(checkpoint: str) -> Iterator[None]:
    """A refusal of the loaded model itself (onnx_concept: no concept detector) names the file."""
    try:
        yield
    except NoDetectorError as err:
        raise UserError(f"--checkpoint {checkpoint}: {err}") from None


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    check_name(args.name)
    check_output_dir(args.out)  # before the weights are read: a file, no parent, read-only
    if "onnx_encoder_int8" in args.to:
        onnx_quantization()  # onnxruntime's quantization tools missing: one line, before loading
    if "onnx_concept" in args.to:
        check_concept_file(args)
    with flag_hints():
        loaded = load_checkpoint_with_provenance(
            args.checkpoint, variant=args.variant, format=args.format, base_checkpoint=args.base
        )
    note = untrained_hq_export_note(loaded.model, args.to)

    def print_note() -> None:  # once every refusal is past: only an export that goes ahead
        if note is not None:
            print(note, file=sys.stderr)

    with torch.no_grad(), checkpoint_named(args.checkpoint):
        written = export_model(
            loaded.model,
            args.out,
            args.to,
            name=args.name,
            verify=not args.no_verify,
            onnx_opset=args.onnx_opset,
            hq_token_only=args.onnx_hq_token_only,
            multimask_output=args.onnx_multimask,
            overwrite=args.overwrite,
            create_parents=False,
            policy=policy_of(loaded.provenance),  # from the same read of the file
            on_checked=print_note,
        )
    for target, path in written.items():
        print(f"{target}: {path}")
    return written
