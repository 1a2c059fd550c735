"""The app's model side: one image embedding, then masks of a click sequence, HQ on and off.

A click sequence is a list of steps, each a point [x, y, label] or a box [x0, y0, x1, y1] in
original image pixels. The prompt after step i holds every point of steps 0..i and the last box
among them. With `refine`, step i > 0 also gets the previous step's low-resolution logits as the
mask input (each side its own: SAM-HQ refines SAM-HQ's mask, SAM refines SAM's), as the official
predictors allow. Results of each prefix are kept, so a further click decodes once and undo costs
nothing; they are kept within a byte budget over all images (KEPT_RESULT_BYTES, the least recently
used dropped first, masks bit-packed), and a prefix no longer kept is decoded again from the
longest kept one.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from samhq_train.errors import UserError
from samhq_train.inference import SamHQPredictor

MAX_STEPS = 200
KEPT_IMAGES = 4  # image embeddings kept (a few browser tabs / back-and-forth between images)
KEPT_RESULTS = 256  # decoded prefixes kept per image
# the kept prefixes' masks and logits, all images together (the newest result is always kept):
# a 12 MP photo's result is ~3 MB (two bit-packed masks), so ~80 clicks' worth
KEPT_RESULT_BYTES = 256 * 2**20


class AppError(UserError):
    """Something the user can fix (an image, a prompt, a checkpoint); shown in the page."""

    http_status = 400


class ImageNotLoaded(AppError):
    """An image id the server no longer keeps (KEPT_IMAGES newer images opened since, in any tab):
    410, on which the page sends its image again and repeats the request."""

    http_status = 410

    def __init__(self) -> None:
        super().__init__(
            f"that image is no longer loaded on the server ({KEPT_IMAGES} other images were "
            "opened since); open it again"
        )


@dataclass(frozen=True)
class Options:
    refine: bool = True  # previous low-res logits as mask input
    hq_token_only: bool = False  # SAM-HQ side: the HQ mask alone instead of SAM + HQ


@dataclass
class Side:
    """One model's answer to one prompt: the chosen mask (kept bit-packed) and its low-res
    logits."""

    bits: np.ndarray  # H x ceil(W / 8) uint8, the mask packed along its rows
    width: int
    iou: float  # predicted IoU of the chosen mask
    low_res: np.ndarray  # 1 x S/4 x S/4 logits, the next step's mask input

    @classmethod
    def of(cls, mask: np.ndarray, iou: float, low_res: np.ndarray) -> Side:
        return cls(np.packbits(mask, axis=-1), mask.shape[-1], iou, low_res)

    @property
    def mask(self) -> np.ndarray:
        """H x W bool."""
        return np.unpackbits(self.bits, axis=-1, count=self.width).astype(bool)

    @property
    def nbytes(self) -> int:
        return self.bits.nbytes + self.low_res.nbytes


@dataclass
class StepResult:
    hq: Side
    sam: Side
    multimask: bool

    @property
    def nbytes(self) -> int:
        return self.hq.nbytes + self.sam.nbytes


def check_steps(steps, size: tuple[int, int]) -> list[tuple[str, tuple[float, ...]]]:
    """The steps as ("point", (x, y, label)) / ("box", (x0, y0, x1, y1)); AppError names a bad
    step."""
    if not isinstance(steps, list) or not steps:
        raise AppError("no prompt: click a point or draw a box on the image")
    if len(steps) > MAX_STEPS:
        raise AppError(f"{len(steps)} prompts: at most {MAX_STEPS}; reset and start again")
    h, w = size
    out = []
    for i, step in enumerate(steps):
        kind = next(iter(step), None) if isinstance(step, dict) and len(step) == 1 else None
        values = step.get(kind) if kind in ("point", "box") else None
        n = 3 if kind == "point" else 4
        if not (
            isinstance(values, list)
            and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        ):
            raise AppError(
                f"prompt {i} must be {{'point': [x, y, label]}} or "
                f"{{'box': [x0, y0, x1, y1]}}, got {step!r}"
            )
        if not np.isfinite(values).all():
            raise AppError(
                f"{kind} {i} {values!r} is not finite (NaN or inf): give pixel coordinates"
            )
        values = tuple(float(v) for v in values)
        if kind == "point" and values[2] not in (0, 1):
            raise AppError(
                f"point {i} {list(values)}: the label must be 1 (positive) or 0 (negative)"
            )
        if kind == "point" and not (0 <= values[0] <= w and 0 <= values[1] <= h):
            raise AppError(f"point {i} {list(values)} lies outside the {w} x {h} image")
        if kind == "box":
            x0, y0, x1, y1 = values
            if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
                raise AppError(
                    f"box {i} {list(values)} must have x0 < x1, y0 < y1 and lie inside "
                    f"the {w} x {h} image"
                )
        out.append((kind, values))
    return out


def safe_stem(name: str) -> str:
    """A file stem made of [A-Za-z0-9_.-] from an image's name (never a path)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem).strip("._")[:80]
    return stem or "image"


def free_stem(out: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """`stem`, or stem_2, stem_3, ... : the first for which every file a save writes (stem +
    each of `suffixes`) is new in `out` (a save never replaces a file)."""
    for n in range(1, 10_000):
        candidate = stem if n == 1 else f"{stem}_{n}"
        if not any((out / f"{candidate}{suffix}").exists() for suffix in suffixes):
            return candidate
    raise AppError(f"{out} holds 9999 saves of {stem}; give another --out")


def prompt_of(steps) -> dict:
    """The prompt after the last of `steps` as a predict prompt file
    ({"box": [...], "points": [...]})."""
    points = [list(v) for kind, v in steps if kind == "point"]
    boxes = [list(v) for kind, v in steps if kind == "box"]
    out = {}
    if boxes:
        out["box"] = boxes[-1]
    if points:
        out["points"] = points
    return out


def _choose(masks, scores, low_res) -> Side:
    """The best-scored of M masks (SAM's multimask output); with one mask, its best score (SAM 2's
    HQ-only mask comes with the three SAM tokens' scores)."""
    if masks.shape[0] == 1:
        return Side.of(masks[0], float(scores.max()), low_res[:1].copy())
    best = int(np.argmax(scores))
    return Side.of(masks[best], float(scores[best]), low_res[best][None].copy())


class Segmenter:
    """A model, the embeddings of the last few images, and the decoded click sequences."""

    def __init__(
        self, model: torch.nn.Module, description: str = "", *, use_hq: bool = True
    ) -> None:
        """use_hq=False: the SAM-HQ side decodes as plain SAM too (weights without trained HQ
        parts: the HQ token would add untrained logits)."""
        self.predictor = SamHQPredictor(model)
        self.description = description
        self.use_hq = use_hq
        self.images: OrderedDict[str, dict] = OrderedDict()
        # (image id, options, steps) -> the prefix's result, least recently used first
        self.results: OrderedDict[tuple, StepResult] = OrderedDict()
        self.result_bytes = 0

    def set_image(self, image: np.ndarray, name: str) -> dict:
        """Embed an H x W x 3 uint8 RGB image (once per distinct image); its id and the time."""
        image_id = hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()[:16]
        if image_id in self.images:
            self.images.move_to_end(image_id)
            entry = self.images[image_id]
            entry["name"] = name
            return {"image_id": image_id, "encode_s": entry["encode_s"], "cached": True}
        start = time.perf_counter()
        self.predictor.set_image(image)
        encode_s = time.perf_counter() - start
        self.images[image_id] = {
            "name": name,
            "features": self.predictor.features,
            "sizes": (self.predictor.original_size, self.predictor.input_size),
            "encode_s": encode_s,
            "results": 0,  # its prefixes kept in self.results
        }
        while len(self.images) > KEPT_IMAGES:
            dropped, _ = self.images.popitem(last=False)
            for key in [k for k in self.results if k[0] == dropped]:
                self._drop(key)
        return {"image_id": image_id, "encode_s": encode_s, "cached": False}

    def entry(self, image_id: str) -> dict:
        if image_id not in self.images:
            raise ImageNotLoaded()
        return self.images[image_id]

    def segment(self, image_id: str, steps, options: Options) -> tuple[StepResult, float]:
        """The masks after the last step, and the seconds spent decoding (0 when it was kept):
        the steps after the longest kept prefix are decoded, each refining the one before."""
        entry = self.entry(image_id)
        steps = check_steps(steps, entry["sizes"][0])
        p = self.predictor  # point the predictor at this image's kept embedding
        p.features, (p.original_size, p.input_size) = entry["features"], entry["sizes"]
        keys = [(image_id, options, tuple(steps[: i + 1])) for i in range(len(steps))]
        kept = next((i for i in reversed(range(len(keys))) if keys[i] in self.results), -1)
        previous = self.results[keys[kept]] if kept >= 0 else None
        spent = 0.0
        for key in keys[kept + 1 :]:
            start = time.perf_counter()
            previous = self._decode(list(key[2]), previous if options.refine else None, options)
            spent += time.perf_counter() - start
            self._keep(key, previous)
        if kept == len(keys) - 1:
            self.results.move_to_end(keys[kept])
        return previous, spent

    def _keep(self, key: tuple, result: StepResult) -> None:
        """Keep a prefix's result; drop the least recently used ones past KEPT_RESULTS for its
        image or KEPT_RESULT_BYTES for all (never the one just kept)."""
        self.results[key] = result
        self.result_bytes += result.nbytes
        self.images[key[0]]["results"] += 1
        if self.images[key[0]]["results"] > KEPT_RESULTS:
            self._drop(next(k for k in self.results if k[0] == key[0]))
        while self.result_bytes > KEPT_RESULT_BYTES and len(self.results) > 1:
            self._drop(next(iter(self.results)))

    def _drop(self, key: tuple) -> None:
        self.result_bytes -= self.results.pop(key).nbytes
        if key[0] in self.images:
            self.images[key[0]]["results"] -= 1

    def _decode(self, steps, previous: StepResult | None, options: Options) -> StepResult:
        prompt = prompt_of(steps)
        points = np.asarray(prompt.get("points", np.zeros((0, 3))), np.float64).reshape(-1, 3)
        coords, labels = (points[:, :2], points[:, 2]) if len(points) else (None, None)
        box = None if "box" not in prompt else np.asarray(prompt["box"], np.float64)
        # one click without a box is ambiguous: SAM's advice is multimask output, best score
        multimask = len(points) == 1 and box is None and previous is None

        def side(use_hq: bool, mask_input: np.ndarray | None) -> Side:
            return _choose(
                *self.predictor.predict(
                    coords,
                    labels,
                    box,
                    mask_input,
                    multimask_output=multimask,
                    hq_token_only=options.hq_token_only,  # plain SAM (use_hq=False) ignores it
                    use_hq=use_hq,
                )
            )

        hq = side(self.use_hq, None if previous is None else previous.hq.low_res)
        sam = side(False, None if previous is None else previous.sam.low_res)
        return StepResult(hq, sam, multimask)
