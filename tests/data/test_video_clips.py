"""Video clips from DAVIS-style folders (VideoClipDataset) and the moving-shapes generator."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.data.image_files import DataError
from samhq_train.data.loaders import SampleLoader
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import VideoClipDataset, collate_clips, find_sequences


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return write_moving_shapes(root, num_videos=2, num_frames=6, size=64, num_objects=3, seed=0)


def test_generator_writes_davis_layout_deterministically(shapes_root, tmp_path):
    names = sorted(p.name for p in (shapes_root / "Annotations").iterdir())
    assert names == ["shapes000", "shapes001"]
    frames = sorted((shapes_root / "JPEGImages" / "shapes000").glob("*.jpg"))
    assert [p.name for p in frames] == [f"{t:05d}.jpg" for t in range(6)]
    with Image.open(shapes_root / "Annotations" / "shapes000" / "00000.png") as image:
        assert image.mode == "P"
        ids = np.array(image)
    assert set(np.unique(ids)) <= {0, 1, 2, 3} and len(np.unique(ids)) > 1
    again = write_moving_shapes(tmp_path, num_videos=1, num_frames=6, size=64, num_objects=3)
    same = np.array(Image.open(again / "Annotations" / "shapes000" / "00003.png"))
    assert np.array_equal(same, np.array(Image.open(
        shapes_root / "Annotations" / "shapes000" / "00003.png")))
    # the objects move
    last = np.array(Image.open(shapes_root / "Annotations" / "shapes000" / "00005.png"))
    assert not np.array_equal(ids, last)


def test_clip_is_consecutive_frames_with_first_frame_objects(shapes_root):
    dataset = VideoClipDataset(shapes_root, image_size=64, num_frames=4, max_num_objects=2,
                               hflip_prob=0.0)
    assert len(dataset) == 2
    clip = dataset.clip(dataset.sequences[0], np.random.default_rng(3))
    assert clip["images"].shape == (4, 3, 64, 64) and clip["images"].dtype == torch.uint8
    assert clip["masks"].shape == (4, 2, 64, 64) and clip["masks"].dtype == torch.bool
    assert clip["masks"][0].flatten(1).any(1).all()  # every object visible on the first frame
    seq = dataset.sequences[0]
    labels = [np.array(Image.open(p)) for p in seq.masks]
    starts = [s for s in range(3) if all(
        np.array_equal(labels[s + t] == i, clip["masks"][t, k].numpy())
        for t in range(4) for k, i in enumerate(clip["object_ids"]))]
    assert len(starts) == 1  # the masks are four consecutive GT frames of those ids


def test_flip_flips_images_and_masks_together(shapes_root):
    flat = VideoClipDataset(shapes_root, image_size=64, num_frames=3, hflip_prob=0.0)
    flipped = VideoClipDataset(shapes_root, image_size=64, num_frames=3, hflip_prob=1.0)
    a = flat.clip(flat.sequences[1], np.random.default_rng(0))
    b = flipped.clip(flipped.sequences[1], np.random.default_rng(0))
    assert torch.equal(a["images"].flip(-1), b["images"])
    assert torch.equal(a["masks"].flip(-1), b["masks"])


def test_collate_stacks_clips_and_numbers_their_objects(shapes_root):
    dataset = VideoClipDataset(shapes_root, image_size=64, num_frames=3, max_num_objects=3)
    items = [dataset.clip(s, np.random.default_rng(1)) for s in dataset.sequences]
    batch = collate_clips(items)
    counts = [len(item["object_ids"]) for item in items]
    assert batch["images"].shape == (3, 2, 3, 64, 64)
    assert batch["masks"].shape == (3, sum(counts), 1, 64, 64)
    assert batch["object_video"].tolist() == [0] * counts[0] + [1] * counts[1]


def test_bad_folders_are_one_line(shapes_root, tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        find_sequences(tmp_path / "nowhere")
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(DataError, match="Annotations/ missing"):
        find_sequences(tmp_path)
    with pytest.raises(DataError, match="no sequence has 7 annotated frames"):
        find_sequences(shapes_root, 7)
    rgb = tmp_path / "rgb"
    write_moving_shapes(rgb, num_videos=1, num_frames=2, size=32)
    png = rgb / "Annotations" / "shapes000" / "00000.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(png)
    with pytest.raises(DataError, match=r"mode RGB image \(colours, not ids\)"):
        find_sequences(rgb)


def test_a_frame_cut_short_is_one_line_from_a_loader_worker_too(shapes_root, tmp_path):
    """A DataError raised in a loader worker would come back wrapped around the worker's
    traceback: the clip carries it as data instead, and the loader says it in one line."""
    root = shutil.copytree(shapes_root, tmp_path / "cut")
    frame = root / "JPEGImages" / "shapes000" / "00002.jpg"  # in every clip of 6 frames
    frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 2])
    dataset = VideoClipDataset(root, image_size=64, num_frames=6)
    loader = SampleLoader(dataset, batch_size=2, num_workers=1, collate_fn=collate_clips)
    with pytest.raises(DataError) as raised:
        next(iter(loader))
    assert str(raised.value) == (f"cannot read frame file {frame}: {frame.name} is truncated "
                                 "(JPEG end marker missing); copy or extract it again (removing "
                                 "it would shift every later frame's index)")
