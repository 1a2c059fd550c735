"""Masks for prompts on many images: mask PNGs, overlay PNGs and predictions.json (samhq-predict).

`plan` lists the images, reads their prompts and checks every output path before any weights are
read; `predict_images` runs the predictor over them. An image that cannot be read or a prompt
that cannot be used is reported (one `error:` line naming the file and the entry) and the others
go on; `BatchResult` counts both, and the command exits with status 2 when any was reported.
Outputs: <out>/<stem>_mask.png (<stem>_mask<i>.png for box entry i), <stem>_overlay.png (mask
i and box i in the palette's colour i, numbered i), and <out>/predictions.json (files and scores
of every image written). While the run goes, each finished image is appended to
<out>/predictions.jsonl (one json line each), so that a run stopped by a full disk, a kill or a
bug keeps the listing of what it wrote; at the end predictions.json is written (atomically) and
the .jsonl removed. The score is SAM's predicted IoU (the IoU head scores SAM's mask; the HQ
token has none), also with hq_token_only. Inputs that share a stem get distinct names:
<stem>_<ext>, then <folder>_<stem>_<ext>. Subfolders of an input folder are not read (a note
counts them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samhq_train import imaging
from samhq_train.drawing import draw_overlay
from samhq_train.files import DiskFullError
from samhq_train.imaging import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from samhq_train.inference.export import check_output_dir
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
from samhq_train.inference.predictor import ImageReadError, PromptError, SamHQPredictor, load_image
from samhq_train.inference.prompt_file import ImagePrompts, check_prompt_source
from samhq_train.inference.prompt_file import prompts_for as prompts_from_source
from samhq_train.progress import track

SCORE_LABEL = "SAM's predicted IoU"  # the IoU head scores SAM's mask; the HQ token has none
MASK_BUDGET = 1 << 29  # bytes of full-size float32 logits per predictor call (boxes in chunks)
ORIENTATIONS = {
    2: "mirrored",
    3: "rotated 180",
    4: "flipped",
    5: "transposed",
    6: "rotated 90",
    7: "transversed",
    8: "rotated 270",
}


@dataclass(frozen=True)
class BatchOptions:
    """What to predict and how: the prompts (boxes / points for every image, or a prompt file or
    folder), the decoder's output choice, and the output rules."""

    out: Path
    boxes: list | None = None  # [[x0, y0, x1, y1], ...]: one mask each
    points: list | None = None  # [[x, y, label], ...]: added to every prompt
    prompts: str | None = None  # a json file (one image) or a folder of <image stem>.json
    multimask: bool = False
    hq_token_only: bool = False
    use_hq: bool = True  # False: plain SAM
    overwrite: bool = False
    strict: bool = False  # stop at the first unreadable image
    max_pixels: int | None = None  # the pixel limit (0: none; None: imaging.max_image_pixels())


@dataclass
class BatchResult:
    results: dict[str, dict] = field(default_factory=dict)  # image -> masks, overlay, scores
    unreadable: int = 0  # images reported as unreadable (or over the pixel limit)
    out_of_memory: int = 0  # images reported as running out of memory
    unusable: int = 0  # prompts reported as unusable

    @property
    def complete(self) -> bool:
        return not (self.unreadable or self.out_of_memory or self.unusable)


def prompts_for(image: Path, options: BatchOptions) -> ImagePrompts:
    """The prompts of one image: the options' boxes / points, or its entry in the prompt source
    (when that cannot be read: no prompt, and the reason as its problem)."""
    if not options.prompts:
        boxes = None if not options.boxes else np.asarray(options.boxes, np.float64)
        n = 0 if boxes is None else len(boxes)
        points = None if not options.points else np.asarray(options.points, np.float64)
        return ImagePrompts(boxes, points, box_ids=list(range(n)), box_entries=n)
    try:
        return prompts_from_source(image, options.prompts)
    except PromptError as err:
        return ImagePrompts(np.zeros((0, 4)), None, problems=[str(err)])


def decode(predictor: SamHQPredictor, prompts: ImagePrompts, options: BatchOptions):
    """Masks K x H x W (bool) and scores K for the prompts; the boxes as batches small enough
    that their full-size logits stay within MASK_BUDGET. PromptError when the predictor refuses
    one."""
    points = prompts.points
    height, width = predictor.original_size
    per_call = max(1, MASK_BUDGET // (4 * height * width))
    boxes = prompts.boxes
    chunks = (
        [None]
        if boxes is None
        else [boxes[i : i + per_call] for i in range(0, len(boxes), per_call)]
    )
    masks, scores = [], []
    for chunk in chunks:
        m, score, _ = predictor.predict(
            point_coords=None if points is None else points[:, :2],
            point_labels=None if points is None else points[:, 2],
            box=chunk,  # B x 4: one mask per box
            multimask_output=options.multimask,
            hq_token_only=options.hq_token_only,
            use_hq=options.use_hq,
        )
        if options.multimask and m.shape[-3] > 1:  # SAM 1's HQ decoder picks one itself
            m, score = best_scored(m, score)
        masks.append(m.reshape(-1, *m.shape[-2:]))
        scores.append(score.reshape(-1))
    if len(masks) == 1:
        return masks[0], scores[0]
    return np.concatenate(masks), np.concatenate(scores)


def best_scored(masks: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best-scored of SAM's multimask masks per prompt (plain SAM, or HQ-SAM 2 / 3, whose HQ
    mask is added to each of SAM's: the one SAM 1's HQ decoder picks itself): masks ... x M x H x W,
    scores ... x M -> ... x 1 x H x W, ... x 1."""
    best = scores.argmax(axis=-1)[..., None]
    return np.take_along_axis(masks, best[..., None, None], axis=-3), np.take_along_axis(
        scores, best, axis=-1
    )


def refusal(predictor: SamHQPredictor, prompts: ImagePrompts, options: BatchOptions) -> str | None:
    """Why the predictor refuses these prompts, or None."""
    try:
        decode(predictor, prompts, options)
    except PromptError as err:
        return str(err)
    return None


def decode_usable(predictor: SamHQPredictor, prompts: ImagePrompts, options: BatchOptions):
    """(the prompts the predictor takes or None, their masks, scores) and a line for each prompt it
    refuses (its checks need the image: a box outside it, a point label). The points are checked
    on their own first: every box holds them."""
    try:
        return (prompts, *decode(predictor, prompts, options)), []
    except PromptError as err:
        if prompts.boxes is None:
            return (None, None, None), [prompts.where("points") + str(err)]
    points_only = ImagePrompts(None, prompts.points)
    if prompts.points is not None and (why := refusal(predictor, points_only, options)):
        return (None, None, None), [prompts.where("points") + why]
    keep, problems = [], []
    for i, box_id in enumerate(prompts.box_ids):
        why = refusal(predictor, prompts.select([i]), options)
        if why is None:
            keep.append(i)
        else:
            problems.append(prompts.where(f"boxes[{box_id}]") + why)
    if not keep:
        return (None, None, None), problems
    kept = prompts.select(keep)
    return (kept, *decode(predictor, kept, options)), problems


def read_input(image_path: Path, options: BatchOptions) -> np.ndarray:
    """The image (pixel limit checked from its header first); a note when its EXIF orientation
    asks viewers to turn it: the pixels are used as stored, as everywhere in samhq-train."""
    try:
        header = imaging.read_header(image_path, max_pixels=options.max_pixels)
    except imaging.ImageFileError as err:
        raise ImageReadError(str(err)) from None
    if header is not None and header.orientation in ORIENTATIONS:
        print(
            f"note: {image_path} has EXIF orientation {header.orientation} (viewers show it "
            f"{ORIENTATIONS[header.orientation]}): used as stored; prompts and masks are in the "
            "stored pixel grid",
            file=sys.stderr,
        )
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
    (prompts, masks, scores), problems = decode_usable(predictor, prompts, options)
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


def plan(inputs: list[str], options: BatchOptions) -> tuple[list[Path], dict, dict]:
    """Images, their prompts and output stems, and the output folder checked, before any
    weights are read. Sets the pixel limit (options.max_pixels, named --max-pixels)."""
    limit = imaging.max_image_pixels() if options.max_pixels is None else options.max_pixels
    imaging.set_max_image_pixels(limit, "--max-pixels")  # the refusal names --max-pixels
    images = list_images(inputs)
    if options.prompts:
        check_prompt_source(options.prompts, len(images))
    prompts = {image: prompts_for(image, options) for image in images}
    stems = output_stems(images)
    for stem in sorted(set(p.stem for p in images)):
        shared = [p for p in images if p.stem == stem and stems[p] != stem]
        if shared:
            names = ", ".join(f"{p} -> {stems[p]}_*" for p in shared)
            print(f"note: {len(shared)} inputs share the stem {stem!r}: {names}", file=sys.stderr)
    planned = [options.out / RESULTS_FILE, options.out / JOURNAL_FILE]
    for image in images:
        if prompts[image].count:
            masks, overlay_path = output_files(options.out, stems[image], prompts[image])
            planned += [*masks, overlay_path]
    check_output_dir(
        options.out,
        planned,
        overwrite=options.overwrite,
        taken_hint=taken_hint(options.out),
        elsewhere="give another --out",
    )
    return images, prompts, stems


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
    if isinstance(err, imaging.ImageMemoryError):
        return str(err)
    try:
        header = imaging.read_header(image, max_pixels=0)
    except imaging.ImageFileError:
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


def predict_images(
    predictor: SamHQPredictor, images: list[Path], prompts: dict, stems: dict, options: BatchOptions
) -> BatchResult:
    """Every image's masks (plan's images, prompts and stems), reporting what cannot be used;
    predictions.json lists what was written, also when the run stops early (--strict, a bug;
    a full disk: OutputError after the listing is saved)."""
    batch = BatchResult()
    out_dir = options.out
    created = not out_dir.exists()
    out_dir.mkdir(exist_ok=True)
    listing = Listing(out_dir)
    disk_full = None
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
                    raise imaging.ImageMemoryError(memory_line(image, err)) from None
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
    finally:
        listed = listing.finish(batch.results)
        if listed is None and created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
    if disk_full is not None:
        raise disk_full_error(disk_full, len(batch.results), listed) from None
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
