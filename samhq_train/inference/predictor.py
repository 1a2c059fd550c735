"""Set an image once, then ask for many masks: SAM's predictor workflow on any family's model.

Pre-processing follows the family's official predictor exactly so that the same weights give the
same masks: the model's input rule (`model.processing`: SAM 1 resizes the long side to S with
PIL's bilinear filter and pads, SAM 2.1 squashes to S x S) resizes the image, scales prompts given
in original image pixels and brings the masks back to the original size.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import torch

from samhq_train import image_header, imaging
from samhq_train.errors import UserError
from samhq_train.model import cpu_int8
from samhq_train.model.promptable import PromptableModel
from samhq_train.model.registry import family_of_model

from .holes import SAM3_IMAGE_FILL, fill_holes

POINT_LABELS = (0, 1)  # background, foreground


class PromptError(UserError, ValueError):
    """A prompt that cannot be used; the message names the argument."""


class ImageReadError(UserError, ValueError):
    """An image file that cannot be read; the message names the file."""


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """H x W x 3 uint8 RGB from an image file (grey is repeated to 3 channels, alpha dropped,
    EXIF orientation ignored: the one reader, samhq_train.imaging.read_image). An image over the
    pixel limit (max_pixels; default image_header.max_image_pixels(), 100 MP) is refused from its
    header before decoding; ImageReadError names the file. Memory running out while decoding is
    image_header.ImageMemoryError (a MemoryError)."""
    try:
        return imaging.read_image(path, max_pixels)
    except image_header.ImageFileError as err:
        raise ImageReadError(str(err)) from None


class Int8Unsupported(UserError, ValueError):
    """int8=True for a model, device or build without the int8 CPU encoder."""


class SamHQPredictor:
    """Embed one image, then decode any number of prompts on it.

    amp_dtype (e.g. torch.bfloat16) runs the model under autocast; outputs stay float32.
    int8=True (on the CPU, an encoder with the int8 switch: SAM 1 and SAM 3 ViT, SAM 2.1 Hiera;
    implies bf16 autocast): the image encoder's linear layers run as oneDNN int8 GEMMs
    (model/cpu_int8.py), faster and a little less exact.

    A model whose HQ parts are untrained (load_checkpoint of a plain SAM / SAM 2.1 / SAM 3 file or
    a shipped demo base: model.untrained_hq) still decodes as asked, but the first predict that
    leaves use_hq out (default: with the HQ token) warns (UserWarning) that the HQ logits are
    untrained; use_hq=False gives the plain model (what the samhq-* commands choose by
    themselves), use_hq=True the untrained HQ parts without a warning.

    Small holes of the masks are filled as the family's official image predictor fills them by
    default (fill_hole_area: SAM 3's 256 low-res pixels; none for SAM 1 and SAM 2.1).
    """

    def __init__(
        self,
        model: PromptableModel,
        *,
        amp_dtype: torch.dtype | None = None,
        int8: bool = False,
    ) -> None:
        self.model = model.eval()
        self.int8 = int8
        if int8:
            check_int8(model, amp_dtype)
            amp_dtype = torch.bfloat16
        self.amp_dtype = amp_dtype
        # predict's fill_hole_area when the caller leaves it out
        self.fill_hole_area = family_of_model(model).image_fill_hole_area
        self.warned_untrained_hq = False
        self.reset_image()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def reset_image(self) -> None:
        self.features = None
        self.original_size = self.input_size = None

    @property
    def is_image_set(self) -> bool:
        return self.features is not None

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @contextlib.contextmanager
    def _int8_encoder(self):
        encoder = cpu_int8.int8_encoder(self.model) if self.int8 else None
        if encoder is None:
            yield
            return
        before, encoder.int8 = encoder.int8, True
        try:
            yield
        finally:
            encoder.int8 = before

    @torch.no_grad()
    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Embed an H x W x 3 uint8 image (RGB, or BGR with image_format="BGR") and keep it."""
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image must be an H x W x 3 uint8 array, got shape {image.shape} and dtype "
                f"{image.dtype}"
            )
        if image_format == "BGR":
            image = image[..., ::-1]
        resized = self.model.processing.resize_image(image)
        tensor = torch.from_numpy(resized).to(self.device).permute(2, 0, 1)[None]
        self.reset_image()
        with self._autocast(), self._int8_encoder():
            features = self.model.encode(tensor)
        self.set_features(features, tuple(image.shape[:2]), tuple(resized.shape[:2]))

    def set_features(self, features, original_size: tuple[int, int], input_size) -> None:
        """Decode from features encoded elsewhere (the concept predictor's one trunk pass):
        the model's features of an image of original_size (H, W), resized to input_size."""
        self.features = features
        self.original_size, self.input_size = tuple(original_size), tuple(input_size)

    @torch.no_grad()
    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        hq_token_only: bool = False,
        return_logits: bool = False,
        use_hq: bool | None = None,
        fill_hole_area: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for prompts in original image pixels (defaults as the official SamPredictor).

        point_coords N x 2 (x, y) with point_labels N (1 foreground, 0 background); box 4 (x0, y0,
        x1, y1) or a batch B x 4; mask_input 1 x S/4 x S/4 (or B x 1 x S/4 x S/4) low-res logits of
        a previous call. With a batch of boxes, points of shape N x 2 apply to every box (or give
        B x N x 2). Returns masks M x H x W (bool, or logits with return_logits), scores M and
        low-res logits M x S/4 x S/4; with a box batch each gets a leading B. M is 1 for SAM-HQ.
        use_hq=False gives the family's plain SAM from the same embedding (the decoder without
        its HQ token; hq_token_only then does nothing), M 3 with multimask_output, else 1.
        fill_hole_area: background regions of the low-res logits of at most this many pixels are
        made foreground before the masks are upsampled, as the official predictor's
        max_hole_area (0: none; None: the family's default, self.fill_hole_area: 256 for SAM 3,
        0 for SAM 1 and SAM 2.1); the low-res logits returned are not filled.
        """
        if not self.is_image_set:
            raise RuntimeError("set an image with set_image(...) before predict(...)")
        fill_hole_area = checked_fill_hole_area(fill_hole_area, self.fill_hole_area)
        if use_hq is None:  # the default: the HQ token, with a warning if it is untrained
            self.warn_untrained_hq(stacklevel=4)  # the caller of predict (under no_grad's wrapper)
            use_hq = True
        points, boxes, masks, batched = self._prompts(point_coords, point_labels, box, mask_input)
        with self._autocast():
            low_res, iou = self.model.decode(
                self.features,
                points=points,
                boxes=boxes,
                mask_inputs=masks,
                multimask_output=multimask_output,
                hq_token_only=hq_token_only,
                use_hq=use_hq,
            )
        low_res, iou = low_res[0].float(), iou[0].float()  # P x M x ..., P x M
        shown = low_res
        if fill_hole_area > 0:
            filled = fill_holes(low_res.flatten(0, 1)[:, None], fill_hole_area, SAM3_IMAGE_FILL)
            shown = filled.view_as(low_res)
        full = self.model.processing.postprocess_masks(shown, self.input_size, self.original_size)
        if not return_logits:
            full = full > self.model.mask_threshold
        out = [t.cpu().numpy() for t in (full, iou, low_res)]
        return tuple(out) if batched else tuple(t[0] for t in out)

    def warn_untrained_hq(self, stacklevel: int) -> None:
        """The warning, once per predictor, that the HQ token adds untrained logits (when the
        model's HQ parts are untrained); stacklevel as warnings.warn's, from this method."""
        why = getattr(self.model, "untrained_hq", None)
        if why is None or self.warned_untrained_hq:
            return
        self.warned_untrained_hq = True
        warnings.warn(
            f"{why}: with the HQ token (the default) its untrained HQ parts add random logits to "
            f"{why.plain}'s mask; pass use_hq=False for plain {why.plain} (use_hq=True: HQ "
            "without this warning)",
            UserWarning,
            stacklevel=stacklevel,
        )

    def _prompts(self, point_coords, point_labels, box, mask_input):
        """Validate prompts and turn them into 1 x P x ... tensors in the model input frame."""
        h, w = self.original_size
        counts = {}  # prompt batch size per argument, for those given as a batch
        if box is not None:
            box = checked_boxes(box, (h, w))
            if box.ndim == 2:
                counts["box"] = box.shape[0]
        if point_coords is not None or point_labels is not None:
            point_coords, point_labels = checked_points(point_coords, point_labels, (h, w))
            if point_coords.ndim == 3:
                counts["point_coords"] = point_coords.shape[0]
        if mask_input is not None:
            mask_input = checked_mask_input(mask_input, self.model.mask_input_size)
            if mask_input.ndim == 4:
                counts["mask_input"] = mask_input.shape[0]
        if len(set(counts.values())) > 1:
            raise PromptError(f"batched prompts must share their batch size B, got {counts}")
        n = next(iter(counts.values()), 1)

        def batch(array, item_dims):  # -> 1 x n x item (a single prompt repeated for a batch)
            array = array.reshape(-1, *array.shape[array.ndim - item_dims :])
            return self._tensor(np.broadcast_to(array, (n, *array.shape[1:]))[None])

        boxes = (
            None
            if box is None
            else batch(self._scale(box.reshape(-1, 2, 2), (h, w)).reshape(-1, 4), 1)
        )
        points = None
        if point_coords is not None:
            points = (batch(self._scale(point_coords, (h, w)), 2), batch(point_labels, 1))
        masks = None if mask_input is None else batch(mask_input, 3)
        return points, boxes, masks, bool(counts)

    def _scale(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        return self.model.processing.scale_coords(coords, original_size)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.array(array), dtype=torch.float32, device=self.device)


def check_int8(model: PromptableModel, amp_dtype: torch.dtype | None) -> None:
    """Int8Unsupported unless int8 can run: an image encoder with the int8 switch
    (cpu_int8.int8_encoder) on the CPU, bf16 autocast (or none given), and oneDNN's int8 linear in
    this build; a warning where it runs but gains nothing (a CPU without VNNI)."""
    device = next(model.parameters()).device
    if cpu_int8.int8_encoder(model) is None:
        raise Int8Unsupported(
            f"int8: {type(model).__name__}'s {type(getattr(model, 'image_encoder', None)).__name__}"
            f" has no int8 path ({cpu_int8.ENCODERS} have one); leave int8 out"
        )
    if device.type != "cpu":
        raise Int8Unsupported(f"int8: runs on the CPU only, the model is on {device}; use the CPU")
    if amp_dtype not in (None, torch.bfloat16):
        raise Int8Unsupported(f"int8: implies bfloat16 autocast, got amp_dtype={amp_dtype}")
    if not cpu_int8.available():
        raise Int8Unsupported(
            f"int8: this torch {torch.__version__} build has no oneDNN int8 linear "
            "(onednn.qlinear_pointwise); leave int8 out"
        )
    if cpu_int8.without_vnni():
        warnings.warn(cpu_int8.NO_VNNI_WARNING, stacklevel=3)


def checked_fill_hole_area(area, default: int) -> int:
    """predict's fill_hole_area as an int >= 0 (None: the default), or PromptError."""
    if area is None:
        return default
    if isinstance(area, bool) or not isinstance(area, (int, np.integer)) or area < 0:
        raise PromptError(f"fill_hole_area must be a whole number of pixels >= 0, got {area!r}")
    return int(area)


def checked_boxes(box, image_hw: tuple[int, int]) -> np.ndarray:
    """The box prompt (4 or B x 4, x0 y0 x1 y1 in pixels) as float64, or PromptError naming what
    is wrong: its shape, a NaN / inf, x0 >= x1 or y0 >= y1, or a corner outside the image."""
    h, w = image_hw
    box = np.asarray(box, dtype=np.float64)
    if box.ndim not in (1, 2) or box.shape[-1] != 4 or box.size == 0:
        raise PromptError(f"box must have shape 4 or B x 4 (x0, y0, x1, y1), got {box.shape}")
    for x0, y0, x1, y1 in box.reshape(-1, 4).tolist():
        if not np.isfinite([x0, y0, x1, y1]).all():
            raise PromptError(
                f"box {[x0, y0, x1, y1]} is not finite (NaN or inf): give pixel "
                "coordinates x0, y0, x1, y1"
            )
        if not (x0 < x1 and y0 < y1):
            raise PromptError(f"box {[x0, y0, x1, y1]} must have x0 < x1 and y0 < y1")
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise PromptError(
                f"box {[x0, y0, x1, y1]} lies outside the image of width {w} and height "
                f"{h}: coordinates must be within 0..{w} (x) and 0..{h} (y)"
            )
    return box


def checked_points(point_coords, point_labels, image_hw: tuple[int, int]):
    """(coords float64 N x 2 or B x N x 2, labels) of a point prompt, or PromptError naming what
    is wrong: a missing half, shapes, labels other than 0 / 1, a NaN / inf, a point outside."""
    h, w = image_hw
    if point_labels is None:
        raise PromptError(
            "point_coords was given without point_labels: give one label per point "
            "(1 foreground, 0 background)"
        )
    if point_coords is None:
        raise PromptError("point_labels was given without point_coords")
    point_coords = np.asarray(point_coords, dtype=np.float64)
    point_labels = np.asarray(point_labels)
    shape = point_coords.shape
    if point_coords.ndim not in (2, 3) or shape[-1] != 2 or shape[-2] == 0:
        raise PromptError(f"point_coords must have shape N x 2 (x, y) or B x N x 2, got {shape}")
    if point_labels.shape != shape[:-1]:
        raise PromptError(
            f"point_coords has shape {shape} but point_labels has shape "
            f"{point_labels.shape}: give exactly one label per point"
        )
    if not np.isin(point_labels, POINT_LABELS).all():
        raise PromptError(
            f"point_labels must be 1 (foreground) or 0 (background), got {point_labels.tolist()}"
        )
    if not np.isfinite(point_coords).all():
        raise PromptError(
            f"point_coords {point_coords.tolist()} are not finite (NaN or inf): give pixel "
            "coordinates x, y"
        )
    x, y = point_coords[..., 0], point_coords[..., 1]
    outside = (x < 0) | (x > w) | (y < 0) | (y > h)
    if outside.any():
        raise PromptError(
            f"point_coords {point_coords[outside].tolist()} lie outside the image of width "
            f"{w} and height {h}"
        )
    return point_coords, point_labels


def checked_mask_input(mask_input, size: int) -> np.ndarray:
    """A mask prompt (1 x size x size or B x 1 x size x size low-res logits) as float32, or
    PromptError naming its shape."""
    mask_input = np.asarray(mask_input, dtype=np.float32)
    if mask_input.ndim not in (3, 4) or mask_input.shape[-3:] != (1, size, size):
        raise PromptError(
            f"mask_input must have shape 1 x {size} x {size} (or B x 1 x {size} x {size}), "
            f"the low-res logits of a previous predict call; got {mask_input.shape}"
        )
    return mask_input
