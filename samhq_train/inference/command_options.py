"""The command-line options shared by the commands that run a model (samhq-predict, samhq-amg,
samhq-app, samhq-video, and samhq-export for the weights): how to read its weights file (variant
and format, both detected from the file by default), where to run it (--device, --bf16), and
whether it decodes with the HQ token (--hq / --no-hq; not for weights without trained HQ
parts)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

from samhq_train.model import (
    FORMAT_ALIASES,
    FORMATS,
    VARIANTS,
    cpu_int8,
    family_of_variant,
    variant_config,
)
from samhq_train.model.formats import OptionHint

# load_checkpoint's hints (variant=, format=, base_checkpoint=, model.variant=) in the words of
# these commands' flags
FLAG_WORDS = {
    "variant_option": "--variant ",
    "format_option": "--format ",
    "base_option": "--base ",
    "use_variant": "--variant {found} (or leave --variant out: the file says its variant)",
}


@contextlib.contextmanager
def flag_hints() -> Iterator[None]:
    """Around load_checkpoint in a command: a hint that names one of its options names the
    command's flag instead (FLAG_WORDS)."""
    try:
        yield
    except OptionHint as err:
        raise err.worded(FLAG_WORDS) from None


def add_weights_options(parser: argparse.ArgumentParser) -> None:
    """--variant and --format, as load_checkpoint takes them (None: detected from the file)."""
    parser.add_argument(
        "--variant", choices=sorted(VARIANTS), help="model size (default: from the file)"
    )
    parser.add_argument(
        "--format",
        choices=[*FORMATS, *FORMAT_ALIASES],
        help="checkpoint format (default: detected)",
    )


HQ_HELP = (
    "decode with the HQ token (default: on when the checkpoint holds trained HQ parts; a plain "
    "SAM / SAM 2.1 / SAM 3 file or a shipped demo base decodes as plain SAM, with a note; --hq "
    "forces their untrained HQ parts on); --no-hq: the plain SAM / SAM 2.1 / SAM 3 of the same "
    "weights"
)


def add_hq_option(parser: argparse.ArgumentParser) -> None:
    """--hq / --no-hq (default None: decided from the loaded file by decode_with_hq)."""
    parser.add_argument(
        "--hq", action=argparse.BooleanOptionalAction, default=None, help=HQ_HELP
    )


def check_hq_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One usage line (exit 2) for --hq-token-only with --no-hq: the HQ mask alone asked of a
    decode without the HQ token (it was ignored: plain SAM's mask came out)."""
    if args.hq is False and args.hq_token_only:
        parser.error(
            "--hq-token-only (the HQ mask alone) and --no-hq (no HQ token) contradict each "
            "other: give one of them"
        )


def untrained_hq_note(model) -> str | None:
    """The note line of a command that decodes `model` as plain SAM because its HQ parts are
    untrained (load_checkpoint's model.untrained_hq), or None when they are trained."""
    why = getattr(model, "untrained_hq", None)
    if why is None:
        return None
    return (
        f"note: {why}: decoding as plain {why.plain} (no HQ token); for SAM-HQ masks give a "
        "checkpoint with trained HQ parts, or train them (python train.py)"
    )


def hq_choice(model, hq: bool | None = None) -> tuple[bool, str | None]:
    """(whether a command decodes `model` with the HQ token, the note line to print when the
    weights decided it): as --hq / --no-hq say (`hq`), else (None) only when its HQ parts are
    trained; otherwise it decodes as the plain SAM / SAM 2.1 / SAM 3 of the same weights."""
    if hq is not None:
        return hq, None
    note = untrained_hq_note(model)
    return note is None, note


def decode_with_hq(model, hq: bool | None = None) -> bool:
    """hq_choice, its note (if any) printed on stderr now."""
    use_hq, note = hq_choice(model, hq)
    if note is not None:
        print(note, file=sys.stderr)
    return use_hq


def add_device_options(
    parser: argparse.ArgumentParser, *, bf16: bool = True, int8: bool = False
) -> None:
    """--device (cuda when there is one), with bf16 --bf16 (autocast on the CPU or GPU), with int8
    --int8 (the image encoder's linear layers as int8 GEMMs on the CPU)."""
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu or cuda (default: cuda when available)",
    )
    if bf16:
        parser.add_argument(
            "--bf16",
            action="store_true",
            help="run the model in bfloat16 autocast (CPU or GPU; on the CPU about twice the "
            "speed of fp32 where the CPU has bf16 instructions)",
        )
    if int8:
        parser.add_argument(
            "--int8",
            action="store_true",
            help="on the CPU, the image encoder's linear layers as int8 GEMMs "
            f"({cpu_int8.ENCODERS}; implies --bf16; faster where the CPU has VNNI / AMX, "
            "embeddings a little less exact)",
        )


def check_device_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One usage line (exit 2) for a device name torch does not know or this machine lacks, before
    anything is loaded."""
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        parser.error(f"--device {args.device}: not a device name; use cpu, cuda or cuda:N")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device {args.device}: runs on cpu or cuda only; use --device cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        parser.error(
            f"--device {args.device}: this machine has {torch.cuda.device_count()} GPU(s); "
            "use cuda:0 up to one less than that"
        )
    if getattr(args, "bf16", False) and args.device.startswith("cuda"):
        if not torch.cuda.is_bf16_supported():
            parser.error(f"--bf16: the GPU of --device {args.device} has no bfloat16; leave it out")
    if getattr(args, "int8", False):
        if args.device != "cpu":
            parser.error(f"--int8: runs on the CPU only; use --device cpu, not {args.device}")
        variant = getattr(args, "variant", None)  # None: asked of the loaded model (check_int8)
        if variant is not None and not has_int8_encoder(variant):
            parser.error(
                f"--int8: the image encoder of {variant} has no int8 path ({cpu_int8.ENCODERS} "
                "have one); leave --int8 out"
            )


def has_int8_encoder(variant: str) -> bool:
    """Whether the variant's image encoder has the int8 switch, as its family record says (no
    model built: on the meta device that alone imported torch._dynamo, seconds)."""
    return family_of_variant(variant).has_int8_encoder(variant_config(variant))


__all__ = [
    "FLAG_WORDS", "HQ_HELP", "add_device_options", "add_hq_option", "add_weights_options",
    "check_device_options", "check_hq_options", "decode_with_hq", "flag_hints", "hq_choice",
    "untrained_hq_note",
]


def checkpoint_refusal(prefix: str, path, err: BaseException) -> str:
    """The loader's line as is when it names the file (as samhq-predict / samhq-export print
    it), else `prefix`: the line; the path is never said twice."""
    message = str(err)
    if str(path) in message or str(Path(path)) in message:
        return message
    return f"{prefix}: {message}"
