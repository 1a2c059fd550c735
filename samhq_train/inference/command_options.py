"""The command-line options shared by the commands that run a model (samhq-predict, samhq-amg,
samhq-app, and samhq-export for the weights): how to read its weights file (variant and format,
both detected from the file by default) and where to run it (--device, --bf16)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import torch

from samhq_train.model import FORMAT_ALIASES, FORMATS, VARIANTS, build_sam_hq, cpu_int8
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
    """Whether the variant's image encoder has the int8 switch (asked of it, built on the meta
    device: no memory, no weights)."""
    with torch.device("meta"):
        return cpu_int8.int8_encoder(build_sam_hq(variant)) is not None


__all__ = [
    "FLAG_WORDS", "add_device_options", "add_weights_options", "check_device_options",
    "flag_hints",
]
