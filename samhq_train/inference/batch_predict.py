"""Masks for prompts on many images: mask PNGs, overlay PNGs and predictions.json (samhq-predict).

`plan` lists the images, reads their prompts and checks every output path before any weights are
read; `predict_images` runs the predictor over them. An image that cannot be read or a prompt
that cannot be used is reported (one `error:` line naming the file and the entry) and the others
go on; `BatchResult` counts both, and the command exits with status 2 when any was reported.
Outputs: <out>/<stem>_mask.png (<stem>_mask<i>.png for box entry i), <stem>_overlay.png, and
<out>/predictions.json (files and scores of every image written, also when the run stops early).
Inputs that share a stem get distinct names: <stem>_<ext>, then <folder>_<stem>_<ext>.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from samhq_train.imaging import draw_overlay
from samhq_train.inference.export import OutputError, check_output_dir
from samhq_train.inference.predictor import ImageReadError, PromptError, SamHQPredictor, load_image
from samhq_train.inference.prompt_file import ImagePrompts, check_prompt_source
from samhq_train.inference.prompt_file import prompts_for as prompts_from_source
from samhq_train.model import atomic_write
from samhq_train.progress import track

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
RESULTS_FILE = "predictions.json"
TAKEN_HINT = "pass --overwrite to replace it, or give another --out"


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
    overwrite: bool = False
    strict: bool = False  # stop at the first unreadable image


@dataclass
class BatchResult:
    results: dict[str, dict] = field(default_factory=dict)  # image -> masks, overlay, scores
    unreadable: int = 0  # images reported as unreadable
    unusable: int = 0  # prompts reported as unusable

    @property
    def complete(self) -> bool:
        return not (self.unreadable or self.unusable)


def list_images(inputs: list[str]) -> list[Path]:
    """The image files of `inputs` (files, and folders' images sorted by name), each once."""
    images = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageReadError(
                    f"folder {item} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            images += found
        elif item.is_file():
            images.append(item)
        else:
            raise ImageReadError(f"image file not found: {item}")
    unique = {}
    for image in images:
        unique.setdefault(image.resolve(), image)
    return list(unique.values())


def output_stems(images: list[Path]) -> dict[Path, str]:
    """A distinct output stem per image, deterministic in the input order: the image's stem, or
    for stems shared by several inputs (compared case-insensitively) <stem>_<ext>, then
    <folder>_<stem>_<ext>, then a number."""
    groups: dict[str, list[Path]] = {}
    for image in images:
        groups.setdefault(image.stem.lower(), []).append(image)
    used = {stem for stem, group in groups.items() if len(group) == 1}
    stems = {}
    for image in images:
        if len(groups[image.stem.lower()]) == 1:
            stems[image] = image.stem
            continue
        ext = image.suffix.lstrip(".").lower()
        candidates = [f"{image.stem}_{ext}", f"{image.parent.name}_{image.stem}_{ext}"]
        candidates += [f"{image.stem}_{ext}_{i}" for i in range(2, len(images) + 2)]
        stems[image] = next(c for c in candidates if c.lower() not in used)
        used.add(stems[image].lower())
    return stems


def output_files(out_dir: Path, stem: str, prompts: ImagePrompts) -> tuple[list[Path], Path]:
    """<stem>_mask.png for one prompt, else <stem>_mask<i>.png for box entry i; the overlay."""
    masks = (
        [out_dir / f"{stem}_mask.png"]
        if prompts.box_entries <= 1
        else [out_dir / f"{stem}_mask{i}.png" for i in prompts.box_ids]
    )
    return masks, out_dir / f"{stem}_overlay.png"


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
    """Masks K x H x W and scores K for the prompts (the boxes as one batch); PromptError when the
    predictor refuses one."""
    points = prompts.points
    masks, scores, _ = predictor.predict(
        point_coords=None if points is None else points[:, :2],
        point_labels=None if points is None else points[:, 2],
        box=prompts.boxes,  # B x 4: one mask per box
        multimask_output=options.multimask,
        hq_token_only=options.hq_token_only,
    )
    return masks.reshape(-1, *masks.shape[-2:]), scores.reshape(-1)


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


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a PNG atomically (a temporary file renamed over the target)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OutputError(f"could not encode {path} as PNG")
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data.tobytes()))


def predict_image(
    predictor: SamHQPredictor,
    image_path: Path,
    stem: str,
    prompts: ImagePrompts,
    options: BatchOptions,
) -> tuple[dict | None, list[str]]:
    """Predict and write one image's masks and overlay (None when no prompt could be used) and a
    line for each prompt left out; on failure none of its files remain."""
    image = load_image(image_path)
    predictor.set_image(image)
    (prompts, masks, scores), problems = decode_usable(predictor, prompts, options)
    problems = [f"{image_path}: {line}" for line in problems]
    if prompts is None:
        return None, problems
    mask_paths, overlay_path = output_files(options.out, stem, prompts)
    if not options.overwrite:
        check_output_dir(options.out, [*mask_paths, overlay_path], taken_hint=TAKEN_HINT)
    written = []
    try:
        for path, mask in zip(mask_paths, masks):
            write_png(path, mask.astype(np.uint8) * 255)
            written.append(path)
        picture = draw_overlay(image, masks, boxes=prompts.boxes, points=prompts.points)
        write_png(overlay_path, picture)
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
    weights are read."""
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
    planned = [options.out / RESULTS_FILE]
    for image in images:
        if prompts[image].count:
            masks, overlay_path = output_files(options.out, stems[image], prompts[image])
            planned += [*masks, overlay_path]
    check_output_dir(options.out, planned, overwrite=options.overwrite, taken_hint=TAKEN_HINT)
    return images, prompts, stems


def report_problems(lines: list[str]) -> int:
    """One stderr line per unusable prompt; returns how many."""
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return len(lines)


def summary(batch: BatchResult, out_dir: Path) -> str:
    """The last line after reported images / prompts, when the masks of others were written."""
    counts = [f"{batch.unreadable} unreadable image(s)"] if batch.unreadable else []
    counts += [f"{batch.unusable} unusable prompt(s)"] if batch.unusable else []
    return (
        f"error: {' and '.join(counts)}, listed above; the masks of the others are in {out_dir} "
        f"({RESULTS_FILE})"
    )


def predict_images(
    predictor: SamHQPredictor, images: list[Path], prompts: dict, stems: dict, options: BatchOptions
) -> BatchResult:
    """Every image's masks (plan's images, prompts and stems), reporting what cannot be used;
    predictions.json lists what was written, also when the run stops early (--strict, a bug)."""
    batch = BatchResult()
    out_dir = options.out
    created = not out_dir.exists()
    out_dir.mkdir(exist_ok=True)
    try:
        # piped: a progress line now and then (in a terminal the per-image lines are enough)
        for image in track(images, "predict", bar=False, leave=False):
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
            batch.unusable += report_problems(problems)
            if result is None:
                continue
            batch.results[str(image)] = result
            print(f"{image}: {', '.join(result['masks'])} scores {result['scores']}")
        if not batch.complete and batch.results:
            print(summary(batch, out_dir), file=sys.stderr)
    finally:
        if batch.results:
            text = json.dumps(batch.results, indent=2) + "\n"
            atomic_write(out_dir / RESULTS_FILE, lambda tmp: Path(tmp).write_text(text))
        elif created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
    return batch


__all__ = [
    "IMAGE_SUFFIXES",
    "RESULTS_FILE",
    "BatchOptions",
    "BatchResult",
    "list_images",
    "output_stems",
    "plan",
    "predict_images",
]
