"""The MOSE fine-tune's clip augmentations (SAM 2's training/dataset/transforms.py, the config's
`vos.train_transforms` list), on a clip at its stored resolution, in the config's order:

1. horizontal flip of the whole clip (p = data.hflip_prob)
2. one random affine for the whole clip: rotation within +-degrees, x-shear within +-shear;
   frames bilinear with the fill colour, masks nearest with 0; skipped when an object of the
   first frame would leave the picture
3. resize to the model's square input (frames: PIL bilinear; masks: bilinear, antialiased, on
   their 0 / 1 values, as Meta resizes its uint8 segments)
4. one colour jitter for the whole clip (brightness, contrast, saturation; random order)
5. grayscale for the whole clip (p = grayscale_prob)
6. a colour jitter per frame

The random draws are Meta's, from the same generators in the same order (Python's `random` for
the flip, the resize choice and grayscale; torch's global generator for the affine and the
jitters), so under the same seeds a clip comes out as Meta's pipeline makes it (tests compare).
VideoClipDataset seeds both per clip inside seeded_global_draws, which gives them back as they
were: the process's streams are left alone.
"""

from __future__ import annotations

import math
import random
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from samhq_train.settings import is_number, number, require


@dataclass(frozen=True)
class ClipAugmentation:
    """Settings of the augmentations after the flip (defaults: the MOSE fine-tune config)."""

    degrees: float = 25.0
    shear: float = 20.0
    fill: tuple[int, int, int] = (123, 116, 103)  # the affine's fill colour (RGB)
    clip_jitter: tuple[float, float, float] = (0.1, 0.03, 0.03)  # brightness, contrast, saturation
    grayscale_prob: float = 0.05
    frame_jitter: tuple[float, float, float] = (0.1, 0.05, 0.05)

    def __post_init__(self) -> None:
        """Each field checked for its type and range; the SettingError names the field alone
        ("degrees=abc: expected ..."): the video run puts its config group in front."""
        for name in ("degrees", "shear"):
            number(name, getattr(self, name), lambda v: 0 <= v <= 180, "a number in [0, 180]")
        number("grayscale_prob", self.grayscale_prob, lambda v: 0 <= v <= 1, "a number in [0, 1]")
        for name in ("clip_jitter", "frame_jitter"):
            require(name, getattr(self, name), lambda v: _three(v, is_number, 0, math.inf),
                    "three numbers >= 0 (brightness, contrast, saturation strengths)")
        require("fill", self.fill, lambda v: _three(v, is_number, 0, 255),
                "three numbers in [0, 255] (the affine's RGB fill colour)")


def _three(values, kind, low, high) -> bool:
    """Whether `values` is a list / tuple of three values of `kind` within [low, high]."""
    return (isinstance(values, list | tuple) and len(values) == 3
            and all(kind(v) and low <= v <= high for v in values))


@contextmanager
def seeded_global_draws(seed: int):
    """Python's `random` and torch's global generator seeded with `seed` inside; both as they
    were before on leaving."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


def _ranges(strengths: tuple[float, float, float]) -> list[list[float]]:
    return [[max(0.0, 1 - s), 1 + s] for s in strengths]


def _jitter(image: Image.Image, order, brightness, contrast, saturation) -> Image.Image:
    import torchvision.transforms.functional as F

    adjust = {0: (F.adjust_brightness, brightness), 1: (F.adjust_contrast, contrast),
              2: (F.adjust_saturation, saturation)}
    for fn_id in order.tolist():
        if fn_id in adjust:  # 3 is the hue, not jittered
            fn, factor = adjust[fn_id]
            image = fn(image, factor)
    return image


def _random_affine(frames, masks, aug: ClipAugmentation):
    import torchvision.transforms as T
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode

    width, height = frames[0].size
    params = T.RandomAffine.get_params(degrees=[-aug.degrees, aug.degrees], translate=None,
                                       scale_ranges=None, shears=[-aug.shear, aug.shear] if
                                       aug.shear else None, img_size=[width, height])
    moved = F.affine(masks, *params, interpolation=InterpolationMode.NEAREST, fill=0.0)
    if not moved[0].flatten(1).any(dim=1).all():  # an object would leave the first frame
        return frames, masks
    frames = [F.affine(f, *params, interpolation=InterpolationMode.BILINEAR, fill=list(aug.fill))
              for f in frames]
    return frames, moved


def augment_clip(frames: list[Image.Image], masks: torch.Tensor, size: int, hflip_prob: float,
                 aug: ClipAugmentation) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB frames (PIL, stored size) and T x N x H x W uint8 0 / 1 masks -> (T x 3 x size x size
    uint8 frames, T x N x size x size bool masks)."""
    # torchvision here, not at the top: it imports torch._dynamo (seconds of CPU), which
    # samhq-train's check stage (run/checks.py imports video_clips) must not pay
    import torchvision.transforms as T
    import torchvision.transforms.functional as F

    if random.random() < hflip_prob:
        frames, masks = [F.hflip(f) for f in frames], masks.flip(-1)
    frames, masks = _random_affine(frames, masks, aug)
    size = random.choice((size,))  # Meta's RandomResizeAPI draws from its one size
    frames = [F.resize(f, [size, size]) for f in frames]
    masks = F.resize(masks, [size, size])
    order, *factors = T.ColorJitter.get_params(*_ranges(aug.clip_jitter), None)
    frames = [_jitter(f, order, *factors[:3]) for f in frames]
    if random.random() < aug.grayscale_prob:
        frames = [F.rgb_to_grayscale(f, num_output_channels=3) for f in frames]
    jittered = []
    for f in frames:
        order, *factors = T.ColorJitter.get_params(*_ranges(aug.frame_jitter), None)
        jittered.append(_jitter(f, order, *factors[:3]))
    images = torch.from_numpy(np.stack([np.asarray(f) for f in jittered])).permute(0, 3, 1, 2)
    return images.contiguous(), masks.bool()
