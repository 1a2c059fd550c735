"""The MOSE fine-tune's clip augmentations (data/video_transforms.py) against SAM 2's own
(sam2 1.1.0's training/dataset/transforms.py), built from the `vos.train_transforms` list of
sam2.1_hiera_b+_MOSE_finetune.yaml as installed: the same clip (non-square frames, two
objects) through both under the same Python and torch seeds gives the same frames (after Meta's
ToTensor / Normalize) and the same masks, for several seeds (flipped or not, each affine and
jitter drawn anew) and with grayscale forced on both sides.

`training.utils.data_utils` imports tensordict for its batch class, which the transforms do not
use: a stand-in is registered when tensordict is not installed (as in the SAM2Train parity test).
"""

import random
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as F
from PIL import Image

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import VideoClipDataset
from samhq_train.data.video_transforms import ClipAugmentation, augment_clip

sam2 = pytest.importorskip("sam2")
if "tensordict" not in sys.modules:
    try:
        import tensordict  # noqa: F401
    except ImportError:
        sys.modules["tensordict"] = types.SimpleNamespace(tensorclass=lambda cls: cls)
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from training.utils.data_utils import Frame, Object, VideoDatapoint  # noqa: E402

MOSE = Path(sam2.__file__).parent / "configs" / "sam2.1_training" / \
    "sam2.1_hiera_b+_MOSE_finetune.yaml"
SIZE, HEIGHT, WIDTH, FRAMES = 96, 72, 120, 3
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def meta_transforms(grayscale_prob: float | None = None):
    cfg = OmegaConf.load(MOSE)
    cfg.scratch.resolution = SIZE
    if grayscale_prob is not None:
        cfg.vos.train_transforms[0].transforms[4].p = grayscale_prob
    return instantiate(OmegaConf.to_container(cfg.vos, resolve=True)["train_transforms"])[0]


def clip():
    """FRAMES x H x W x 3 uint8 frames (smooth noise) and FRAMES x 2 x H x W uint8 masks."""
    rng = np.random.default_rng(0)
    low = rng.integers(0, 256, (FRAMES, 9, 15, 3)).astype(np.float32)
    frames = np.stack([np.asarray(Image.fromarray(f.astype(np.uint8)).resize((WIDTH, HEIGHT)))
                       for f in low])
    masks = np.zeros((FRAMES, 2, HEIGHT, WIDTH), np.uint8)
    for t in range(FRAMES):
        masks[t, 0, 20 + 3 * t: 50 + 3 * t, 30 + 4 * t: 70 + 4 * t] = 1
        masks[t, 1, 40:64, 80 - 2 * t: 110 - 2 * t] = 1
    return frames, masks


def run_meta(transforms, frames, masks, seed):
    datapoint = VideoDatapoint(
        frames=[Frame(data=Image.fromarray(f), objects=[
            Object(object_id=i, frame_index=t, segment=torch.from_numpy(m.copy()))
            for i, m in enumerate(masks[t])]) for t, f in enumerate(frames)],
        video_id=0, size=(HEIGHT, WIDTH))
    random.seed(seed)
    torch.manual_seed(seed)
    out = transforms(datapoint)
    images = torch.stack([f.data for f in out.frames])
    segments = torch.stack([torch.stack([o.segment.to(torch.bool) for o in f.objects])
                            for f in out.frames])
    return images, segments


def run_ours(aug, frames, masks, seed):
    random.seed(seed)
    torch.manual_seed(seed)
    images, out_masks = augment_clip([Image.fromarray(f) for f in frames],
                                     torch.from_numpy(masks), SIZE, 0.5, aug)
    assert images.dtype == torch.uint8 and images.shape == (FRAMES, 3, SIZE, SIZE)
    return F.normalize(images.float() / 255, MEAN, STD), out_masks


@pytest.mark.parametrize("grayscale", [False, True], ids=["mose", "grayscale"])
def test_augmented_clip_equals_meta_transforms(grayscale):
    transforms = meta_transforms(1.0 if grayscale else None)
    aug = ClipAugmentation(grayscale_prob=1.0) if grayscale else ClipAugmentation()
    frames, masks = clip()
    flips, worst = set(), 0.0
    for seed in range(8 if not grayscale else 2):
        theirs, their_masks = run_meta(transforms, frames, masks, seed)
        ours, our_masks = run_ours(aug, frames, masks, seed)
        worst = max(worst, float((ours - theirs).abs().max()))
        assert (ours - theirs).abs().max() <= 1e-6, seed
        assert torch.equal(our_masks, their_masks), seed
        random.seed(seed)
        flips.add(random.random() < 0.5)
    assert flips == {True, False}
    print(f"max |frame diff| {worst:.1e}")


def test_augmentation_changes_the_clip_and_keeps_first_frame_objects():
    frames, masks = clip()
    random.seed(3)
    torch.manual_seed(3)
    images, out = augment_clip([Image.fromarray(f) for f in frames], torch.from_numpy(masks),
                               SIZE, 0.0, ClipAugmentation())
    plain = torch.from_numpy(np.stack([np.asarray(Image.fromarray(f).resize((SIZE, SIZE)))
                                       for f in frames])).permute(0, 3, 1, 2)
    assert (images.float() - plain.float()).abs().mean() > 1.0
    assert out[0].flatten(1).any(1).all()


def test_dataset_applies_the_augmentation(tmp_path):
    root = write_moving_shapes(tmp_path, num_videos=1, num_frames=4, size=48, num_objects=2)
    plain = VideoClipDataset(root, image_size=32, num_frames=3, max_num_objects=2)
    augmented = VideoClipDataset(root, image_size=32, num_frames=3, max_num_objects=2,
                                 augmentation=ClipAugmentation())
    torch.manual_seed(0)
    a = plain[0]
    torch.manual_seed(0)
    b = augmented[0]
    assert b["images"].shape == a["images"].shape == (3, 3, 32, 32)
    assert b["masks"].shape == a["masks"].shape and b["masks"].dtype == torch.bool
    assert not torch.equal(a["images"], b["images"])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="degrees"):
        ClipAugmentation(degrees=-1)
    with pytest.raises(ValueError, match="frame_jitter"):
        ClipAugmentation(frame_jitter=(0.1, 0.1))
