"""Masks for prompts on many images: mask PNGs, overlay PNGs and predictions.json (samhq-predict).

`plan` (batch_plan.py) lists the images, reads their prompts and checks every output path before
any weights are read; `predict_images` runs the predictor over them (prompt_decoding.py decodes
an image's prompts, batch_failures.py words what cannot be used). An image that cannot be read or
a prompt that cannot be used is reported (one `error:` line naming the file and the entry) and
the others go on; `BatchResult` counts both, and the command exits with status 2 when any was
reported.
Outputs: <out>/<stem>_mask.png (<stem>_mask<i>.png for box entry i), <stem>_overlay.png (mask
i and box i in the palette's colour i, numbered i), and <out>/predictions.json (files and scores
of every image written). While the run goes, each finished image is appended to
<out>/predictions.jsonl (one json line each), so that a run stopped by a full disk, a kill or a
bug keeps the listing of what it wrote; at the end predictions.json is written (atomically) and
the .jsonl removed (also on Ctrl-C, which then ends in one line counting the images written,
each whole, exit 130). The score is SAM's predicted IoU (the IoU head scores SAM's mask; the HQ
token has none), also with hq_token_only. Inputs that share a stem get distinct names:
<stem>_<ext>, then <folder>_<stem>_<ext>. Subfolders of an input folder are not read (a note
counts them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from samhq_train import image_header
from samhq_train.drawing import draw_overlay
from samhq_train.files import DiskFullError
from samhq_train.image_header import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from samhq_train.inference.batch_failures import (
    is_out_of_memory,
    memory_line,
    report_problems,
    summary,
    unreadable_reason,
)
from samhq_train.inference.batch_plan import BatchOptions, BatchResult, plan
from samhq_train.inference.export import check_output_dir
from samhq_train.inference.interrupted import exit_interrupted
from samhq_train.inference.predict_files import (
    DISK_FULL,
    IMAGE_SUFFIXES,
    JOURNAL_FILE,
    RESULTS_FILE,
    Listing,
    disk_full_error,
    list_images,
    output_files,
    output_stems,
    taken_hint,
    write_png,
)
from samhq_train.inference.predictor import ImageReadError, SamHQPredictor, load_image
from samhq_train.inference.prompt_decoding import decode_in_chunks, decode_usable
from samhq_train.inference.prompt_file import ImagePrompts
from samhq_train.progress import track

SCORE_LABEL = "SAM's predicted IoU"  # the IoU head scores SAM's mask; the HQ token has none
MASK_BUDGET = 1 << 29  # bytes of full-size float32 logits per predictor call (boxes in chunks)


def decode(predictor: SamHQPredictor, prompts: ImagePrompts, options: BatchOptions):
    """Masks K x H x W (bool) and scores K for the prompts, the boxes in chunks within
    MASK_BUDGET. PromptError when the predictor refuses one."""
    return decode_in_chunks(predictor, prompts, options, MASK_BUDGET)


def read_input(image_path: Path, options: BatchOptions) -> np.ndarray:
    """The image (pixel limit checked from its header first); a note when its EXIF orientation
    asks viewers to turn it: the pixels are used as stored, as everywhere in samhq-train."""
    try:
        header = image_header.read_header(image_path, max_pixels=options.max_pixels)
    except image_header.ImageFileError as err:
        raise ImageReadError(str(err)) from None
    if header is not None and header.orientation_note:
        print(f"note: {image_path} {header.orientation_note}", file=sys.stderr)
    return load_image(image_path, max_pixels=options.max_pixels)


def predict_image(
    predictor: SamHQPredictor,
    image_path: Path,
    stem: str,
    prompts: ImagePrompts,
    options: BatchOptions,
) -> tuple[dict | None, list[str]]:
    """Predict and write one image's masks and overlay (None when no prompt could be used) and a
    line for each prompt left out; on failure none of its files remain. Memory: the image, its
    masks (bool) and one band of the overlay's compositing; the overlay is drawn on the image."""
    image = read_input(image_path, options)
    predictor.set_image(image)
    (prompts, masks, scores), problems = decode_usable(predictor, prompts, options, MASK_BUDGET)
    problems = [f"{image_path}: {line}" for line in problems]
    if prompts is None:
        return None, problems
    mask_paths, overlay_path = output_files(options.out, stem, prompts)
    if not options.overwrite:
        check_output_dir(
            options.out, [*mask_paths, overlay_path], taken_hint=taken_hint(options.out)
        )
    written = []
    try:
        for path, mask in zip(mask_paths, masks):
            write_png(path, np.ascontiguousarray(mask).view(np.uint8) * np.uint8(255))
            written.append(path)
        numbers = prompts.box_ids if prompts.box_entries > 1 else None
        picture = draw_overlay(
            image, masks, boxes=prompts.boxes, points=prompts.points, labels=numbers, in_place=True
        )
        write_png(overlay_path, picture)
        written.append(overlay_path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    result = {
        "masks": [str(p) for p in mask_paths],
        "overlay": str(overlay_path),
        "scores": [round(float(s), 6) for s in scores],
    }
    return result, problems


def predict_images(
    predictor: SamHQPredictor, images: list[Path], prompts: dict, stems: dict, options: BatchOptions
) -> BatchResult:
    """Every image's masks (plan's images, prompts and stems), reporting what cannot be used;
    predictions.json lists what was written, also when the run stops early (--strict, a bug;
    a full disk: OutputError after the listing is saved; Ctrl-C: one line, exit 130)."""
    batch = BatchResult()
    out_dir = options.out
    created = not out_dir.exists()
    out_dir.mkdir(exist_ok=True)
    listing = Listing(out_dir)
    disk_full, interrupted = None, None
    try:
        # piped: a progress line now and then (in a terminal the per-image lines are enough)
        for image in track(images, "predict", bar=False, leave=False):
            if not prompts[image].count and options.prompts:
                if why := unreadable_reason(image, options):
                    print(f"error: {why}", file=sys.stderr)
                    batch.unreadable += 1
                    continue
            batch.unusable += report_problems(prompts[image].problems)
            if not prompts[image].count:
                continue
            try:
                result, problems = predict_image(
                    predictor, image, stems[image], prompts[image], options
                )
            except ImageReadError as err:
                if options.strict:
                    raise
                print(f"error: {err}", file=sys.stderr)
                batch.unreadable += 1
                continue
            except (MemoryError, RuntimeError) as err:
                if not is_out_of_memory(err):
                    raise
                if options.strict:
                    raise image_header.ImageMemoryError(memory_line(image, err)) from None
                print(f"error: {memory_line(image, err)}", file=sys.stderr)
                batch.out_of_memory += 1
                continue
            batch.unusable += report_problems(problems)
            if result is None:
                continue
            try:
                listing.add(str(image), result)
            except OSError:  # not listed: not kept
                for path in [*result["masks"], result["overlay"]]:
                    Path(path).unlink(missing_ok=True)
                raise
            batch.results[str(image)] = result
            print(
                f"{image}: {', '.join(result['masks'])} scores {result['scores']} ({SCORE_LABEL})"
            )
        if not batch.complete and batch.results:
            print(summary(batch, out_dir), file=sys.stderr)
    except OSError as err:
        if err.errno not in DISK_FULL and not isinstance(err, DiskFullError):
            raise
        disk_full = err
    except KeyboardInterrupt as stop:  # the listing below, then one line (an image is whole)
        interrupted = stop
    finally:
        listed = listing.finish(batch.results)
        if listed is None and created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
    if disk_full is not None:
        raise disk_full_error(disk_full, len(batch.results), listed) from None
    if interrupted is not None:
        exit_interrupted(interrupted, len(batch.results), len(images), "images' masks", out_dir)
    return batch


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "IMAGE_SUFFIXES",
    "JOURNAL_FILE",
    "RESULTS_FILE",
    "SCORE_LABEL",
    "BatchOptions",
    "BatchResult",
    "list_images",
    "output_stems",
    "plan",
    "predict_images",
]
