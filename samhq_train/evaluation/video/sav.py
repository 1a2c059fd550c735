"""The SA-V layout (SAM 2's dataset): one folder per object, <root>/<video>/<object>/<frame>.png,
each PNG one object's binary mask (0 background, any other value the object; mode P, L or 1),
scored as SAM 2's sav_dataset/sav_evaluator.py scores it:

- every object folder of the GT is scored on its own sorted PNG frames (the first and the last
  of them left out by default: SA-V val and test skip the first and last annotated frame; frames
  without a GT annotation are not read), against the prediction's <video>/<object>/ PNG of the
  same name, which must exist (sav_evaluator stops on a missing one);
- per frame J and F of the binary masks (nonzero = the object), the object scored from the
  first scored frame where it shows in the GT or the prediction (vos-benchmark's rule, scores.py);
- a mask holding more than one nonzero value is refused (sav_evaluator asserts the same);
- an object folder of the prediction without a GT folder is not read; an object whose GT is
  empty on every scored frame is not reported (sav_evaluator stops on it: no score to report);
- a video's J, F: the means over its objects; overall: the means over every object of every
  video, as vos-benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samhq_train.progress import Progress

from .folders import (
    SequenceFrames,
    VideoInputError,
    plan_sequence,
    pngs,
    read_indexed,
    require_pred_folder,
    subfolders,
)
from .scores import SequenceScore, SequenceScorer

MODES = ("P", "L", "1")  # SA-V and vos_inference.py's --per_obj_png_file write P (0 / 1)
OBJECT_HINT = "SA-V masks are one object per PNG: 0 background, one nonzero value the object"


@dataclass(frozen=True)
class SavSequence:
    """A video of the SA-V layout: each GT object folder's scored frames (GT, prediction)."""

    name: str
    objects: dict[str, SequenceFrames]  # object folder name -> its frames

    @property
    def gt(self) -> list[Path]:
        """Every scored GT file, object after object."""
        return [path for frames in self.objects.values() for path in frames.gt]


def plan_sav_sequence(
    name: str, gt_dir: Path, pred_dir: Path, skip_first_and_last: bool
) -> SavSequence:
    """The scored frames of every object of one video, every file's header checked."""
    objects = subfolders(gt_dir)
    if not objects:
        raise VideoInputError(
            f"{gt_dir} holds no object folders: the SA-V layout is <video>/<object>/<frame>.png "
            "(give --layout davis for <sequence>/<frame>.png masks)"
        )
    require_pred_folder(pred_dir, gt_dir, f"video {name}", ", <object>/<frame>.png")
    if pngs(pred_dir) and not subfolders(pred_dir):
        raise VideoInputError(
            f"{pred_dir} holds PNG frames (the DAVIS layout) but the GT {gt_dir} is SA-V: write "
            "one folder per object, <object>/<frame>.png, as the GT"
        )
    return SavSequence(name, {
        obj: plan_sequence(
            f"{name}/{obj}", gt_dir / obj, pred_dir / obj, skip_first_and_last, modes=MODES,
            what="object",
        )
        for obj in objects
    })


def read_object_mask(path: Path) -> np.ndarray:
    """One object's mask (H, W uint8: 1 the object, 0 not) of an SA-V PNG."""
    values = read_indexed(path, MODES)
    found = np.unique(values)
    if found.size > 2:
        raise VideoInputError(
            f"{path}: {found.size} different values, more than one object (or soft, "
            f"anti-aliased edges: threshold such a mask to 0 / 1); {OBJECT_HINT}"
        )
    return (values > 0).astype(np.uint8)


def score_sav_sequence(video: SavSequence, progress: Progress | None = None) -> SequenceScore:
    """J and F of every GT object of one video over its own scored frames (the objects whose
    GT shows in none of them are left out)."""
    objects, frames = {}, set()
    for obj, plan in video.objects.items():
        scorer = SequenceScorer(plan.name)
        for gt_file, pred_file in zip(plan.gt, plan.pred):
            scorer.add_frame(read_object_mask(pred_file), read_object_mask(gt_file))
            frames.add(gt_file.name)
            if progress is not None:
                progress.update()
        score = scorer.result().objects.get(1)
        if score is not None:
            objects[obj] = score
    return SequenceScore(video.name, objects, len(frames))


__all__ = ["MODES", "SavSequence", "plan_sav_sequence", "read_object_mask", "score_sav_sequence"]
