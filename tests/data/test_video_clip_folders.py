"""Video clip folders at their edges (mutation audit round 6): the DAVIS 480p/ level, .jpeg frames,
grayscale id masks, hidden and frame-less folders, a sequence exactly a clip long, background never
an object, the dataset multiplier; the moving-shapes videos bounce and are written once per
settings."""

import numpy as np
import pytest
from PIL import Image

from samhq_train.data.image_files import DataError
from samhq_train.data.moving_shapes import ensure_moving_shapes, write_moving_shapes
from samhq_train.data.video_clips import VideoClipDataset, find_sequences


def write_sequence(root, name: str, num_frames: int, *, level: str = "", suffix: str = ".jpg",
                   mode: str = "P", empty_first: int = 0):
    """Frames 0..n-1 with a 1-object (id 3) mask each; the first `empty_first` masks all 0."""
    images, masks = root / "JPEGImages" / level / name, root / "Annotations" / level / name
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for t in range(num_frames):
        Image.fromarray(np.full((16, 20, 3), 40 * t % 255, np.uint8)).save(images / f"{t:05d}"
                                                                             f"{suffix}")
        ids = np.zeros((16, 20), np.uint8)
        if t >= empty_first:
            ids[4:10, 3 + t: 9 + t] = 3
        Image.fromarray(ids).convert(mode).save(masks / f"{t:05d}.png")
    return root


def test_the_davis_480p_level_and_jpeg_suffixes_are_followed(tmp_path):
    write_sequence(tmp_path, "seq", 3, level="480p", suffix=".jpeg")
    (seq,) = find_sequences(tmp_path)
    assert seq.name == "seq" and [p.name for p in seq.frames] == [f"{t:05d}.jpeg" for t in
                                                                  range(3)]


def test_grayscale_id_masks_are_read(tmp_path):
    write_sequence(tmp_path, "seq", 3, mode="L")
    dataset = VideoClipDataset(tmp_path, image_size=16, num_frames=3, hflip_prob=0.0)
    clip = dataset.clip(dataset.sequences[0], np.random.default_rng(0))
    assert clip["object_ids"] == [3] and clip["masks"].shape == (3, 1, 16, 16)


def test_hidden_folders_masks_without_frames_and_frame_less_sequences(tmp_path):
    write_sequence(tmp_path, "seq", 3)
    write_sequence(tmp_path, ".cache", 3)
    Image.fromarray(np.zeros((16, 20), np.uint8)).save(tmp_path / "Annotations/seq/00009.png")
    (seq,) = find_sequences(tmp_path)
    assert seq.name == "seq" and len(seq.masks) == 3 and seq.masks[-1].name == "00002.png"
    (tmp_path / "Annotations" / "other").mkdir()
    no_frames = r"other: no frames \(\.jpg, \.jpeg, \.png files\) for the masks of sequence other"
    with pytest.raises(DataError, match=no_frames):
        find_sequences(tmp_path)


def test_a_sequence_exactly_a_clip_long_is_used_from_its_first_frame(tmp_path):
    write_sequence(tmp_path, "seq", 4)
    dataset = VideoClipDataset(tmp_path, image_size=16, num_frames=4, hflip_prob=0.0,
                               multiplier=3)
    assert len(dataset) == 3 and len(find_sequences(tmp_path, 4)) == 1
    for seed in range(3):
        clip = dataset.clip(dataset.sequences[0], np.random.default_rng(seed))
        assert clip["images"][:, 0, 0, 0].tolist() == [0, 40, 80, 120]


def test_background_is_never_an_object(tmp_path):
    """Clips start where an object shows; id 0 is not one (the first two frames are empty)."""
    write_sequence(tmp_path, "seq", 6, empty_first=2)
    dataset = VideoClipDataset(tmp_path, image_size=16, num_frames=2, hflip_prob=0.0,
                               max_num_objects=3)
    for seed in range(8):
        clip = dataset.clip(dataset.sequences[0], np.random.default_rng(seed))
        assert clip["object_ids"] == [3] and clip["masks"][0].any()


def test_moving_shapes_bounce_off_the_borders(tmp_path):
    """One object over 150 frames: it keeps moving (an object that did not bounce would end
    pinned in a corner) and stays inside the frame."""
    write_moving_shapes(tmp_path, num_videos=1, num_frames=150, size=48, num_objects=1, seed=3)
    masks = [np.array(Image.open(p)) > 0 for p in
             sorted((tmp_path / "Annotations" / "shapes000").glob("*.png"))]
    assert all(m.any() for m in masks)
    tail = masks[-30:]
    assert sum(not np.array_equal(a, b) for a, b in zip(tail, tail[1:])) >= 20


def test_moving_shapes_are_written_again_for_other_settings_only(tmp_path):
    ensure_moving_shapes(tmp_path, num_videos=1, num_frames=3, size=32)
    first = tmp_path / "Annotations" / "shapes000" / "00000.png"
    stamp = first.stat().st_mtime_ns
    ensure_moving_shapes(tmp_path, num_videos=1, num_frames=3, size=32)
    assert first.stat().st_mtime_ns == stamp  # the same settings: kept
    ensure_moving_shapes(tmp_path, num_videos=1, num_frames=5, size=32)
    assert len(list((tmp_path / "Annotations" / "shapes000").glob("*.png"))) == 5


def test_frames_named_by_unpadded_numbers_are_in_number_order(tmp_path):
    """0.jpg ... 11.jpg (ffmpeg's %d.jpg): a clip is 2, 3, 4, ..., not 10, 11, 2 as by name."""
    write_sequence(tmp_path, "seq", 12)
    for folder in ("JPEGImages", "Annotations"):
        for path in (tmp_path / folder / "seq").iterdir():
            path.rename(path.with_name(f"{int(path.stem)}{path.suffix}"))
    (seq,) = find_sequences(tmp_path)
    assert [p.stem for p in seq.frames] == [str(t) for t in range(12)]
    assert [p.stem for p in seq.masks] == [str(t) for t in range(12)]


@pytest.mark.parametrize("augmented", [False, True])
def test_a_mask_of_another_size_than_its_frame_is_that_clips_error(tmp_path, augmented):
    """A mask of another size than its frame (here the third's) is said in one line naming it,
    with and without the MOSE augmentations: resized apart, it was stretched over its frame."""
    from samhq_train.data.video_transforms import ClipAugmentation

    write_sequence(tmp_path, "seq", 4)
    mask = tmp_path / "Annotations" / "seq" / "00002.png"
    Image.fromarray(np.full((8, 10), 3, np.uint8)).convert("P").save(mask)
    dataset = VideoClipDataset(tmp_path, image_size=16, num_frames=4, hflip_prob=0.0,
                               augmentation=ClipAugmentation() if augmented else None)
    assert dataset[0] == {"error": f"{mask}: a 10x8 mask for the 20x16 frame 00002.jpg (WxH); "
                                   "give each mask its frame's size"}


def test_frames_without_a_mask_are_left_out_and_counted(tmp_path, caplog):
    """A frame without its PNG (YouTube-VOS' every 5th annotated, or a gap) is no frame of a
    clip, said in one log line with the count."""
    import logging

    write_sequence(tmp_path, "seq", 8)
    for t in (2, 3, 5):
        (tmp_path / "Annotations" / "seq" / f"{t:05d}.png").unlink()
    with caplog.at_level(logging.INFO, logger="samhq_train.data.video_clips"):
        (seq,) = find_sequences(tmp_path, 4)
    assert [p.stem for p in seq.frames] == ["00000", "00001", "00004", "00006", "00007"]
    assert (f"{tmp_path}: 3 frames without a mask left out of 1 sequences' clips (a clip is 4 "
            "consecutive annotated frames)") in caplog.text
