"""samhq-predict's plan, made before any weights are read: the options, every image's prompts
(from --box / --point or a prompt file or folder), distinct output stems, and the output folder
checked for every file the run may write."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samhq_train import image_header
from samhq_train.inference.export import check_output_dir
from samhq_train.inference.predict_files import (
    JOURNAL_FILE,
    RESULTS_FILE,
    list_images,
    output_files,
    output_stems,
    taken_hint,
)
from samhq_train.inference.predictor import PromptError
from samhq_train.inference.prompt_file import ImagePrompts, check_prompt_source
from samhq_train.inference.prompt_file import prompts_for as prompts_from_source


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
    # holes of the low-res masks filled up to this many pixels (0: none; None: the family's
    # default, as its official predictor: 256 for SAM 3, 0 for SAM 1 and SAM 2.1)
    fill_hole_area: int | None = None
    overwrite: bool = False
    strict: bool = False  # stop at the first unreadable image
    # the pixel limit (0: none; None: image_header.max_image_pixels())
    max_pixels: int | None = None


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


def plan(inputs: list[str], options: BatchOptions) -> tuple[list[Path], dict, dict]:
    """Images, their prompts and output stems, and the output folder checked, before any
    weights are read. Sets the pixel limit (options.max_pixels, named --max-pixels)."""
    limit = image_header.max_image_pixels() if options.max_pixels is None else options.max_pixels
    image_header.set_max_image_pixels(limit, "--max-pixels")  # the refusal names --max-pixels
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
