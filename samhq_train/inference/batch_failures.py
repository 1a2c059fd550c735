"""What samhq-predict says of the images and prompts it cannot use: one `error:` line each, why an
image failed (unreadable, out of memory), and the summary line after them."""

from __future__ import annotations

import sys
from pathlib import Path

from samhq_train import image_header, imaging
from samhq_train.inference.batch_plan import BatchOptions, BatchResult
from samhq_train.inference.predict_files import RESULTS_FILE
from samhq_train.inference.predictor import ImageReadError, load_image


def report_problems(lines: list[str]) -> int:
    """One stderr line per unusable prompt; returns how many."""
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return len(lines)


def summary(batch: BatchResult, out_dir: Path) -> str:
    """The last line after reported images / prompts, when the masks of others were written."""
    counts = [f"{batch.unreadable} unreadable image(s)"] if batch.unreadable else []
    counts += [f"{batch.out_of_memory} image(s) out of memory"] if batch.out_of_memory else []
    counts += [f"{batch.unusable} unusable prompt(s)"] if batch.unusable else []
    return (
        f"error: {' and '.join(counts)}, listed above; the masks of the others are in {out_dir} "
        f"({RESULTS_FILE})"
    )


def is_out_of_memory(err: BaseException) -> bool:
    """MemoryError, or torch's allocator failing (a RuntimeError: CPU or CUDA out of memory)."""
    if isinstance(err, MemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text
    )


def memory_line(image: Path, err: BaseException) -> str:
    """The one line for an image that ran out of memory (loading or predicting)."""
    if isinstance(err, image_header.ImageMemoryError):
        return str(err)
    try:
        header = image_header.read_header(image, max_pixels=0)
    except image_header.ImageFileError:
        header = None
    return str(imaging.out_of_memory(image, header))


def unreadable_reason(image: Path, options: BatchOptions) -> str | None:
    """Why an image cannot be read, or None (for images left without a prompt: a broken image
    is reported as such, not as "no prompt")."""
    try:
        load_image(image, max_pixels=options.max_pixels)
    except ImageReadError as err:
        return str(err)
    except MemoryError:
        return None
    return None
