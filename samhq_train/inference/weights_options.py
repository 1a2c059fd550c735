"""The command-line options that say how to read a weights file (samhq-predict, samhq-export,
samhq-app): its variant and format, both detected from the file by default."""

from __future__ import annotations

import argparse

from samhq_train.model import FORMAT_ALIASES, FORMATS, VARIANTS


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


__all__ = ["add_weights_options"]
