"""A user's own video training folders (data=video_folder): a Mac's '._' files beside frames and
masks are not paired as frames, masks match '.PNG' too, a frame or mask cut short is the clip's
one line naming it (not a worker's traceback), and a sequence given as a video file says so."""

import numpy as np
import pytest
from PIL import Image

from samhq_train.data.image_files import DataError
from samhq_train.data.video_clips import VideoClipDataset, find_sequences
from samhq_train.data.video_transforms import ClipAugmentation
from tests.data.test_video_clip_folders import write_sequence

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(40)


def cut_short(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 9 // 10])


def test_a_macs_dot_underscore_files_are_not_frames(tmp_path):
    write_sequence(tmp_path, "seq", 3)
    for name in ("JPEGImages/seq/._00000.jpg", "Annotations/seq/._00000.png",
                 "Annotations/seq/.DS_Store"):
        (tmp_path / name).write_bytes(APPLE_DOUBLE)
    (seq,) = find_sequences(tmp_path)
    assert [p.name for p in seq.frames] == ["00000.jpg", "00001.jpg", "00002.jpg"]
    assert [p.name for p in seq.masks] == ["00000.png", "00001.png", "00002.png"]
    clip = VideoClipDataset(tmp_path, image_size=16, num_frames=3, hflip_prob=0.0)[0]
    assert "error" not in clip and clip["images"].shape == (3, 3, 16, 16)


def test_masks_match_an_upper_case_suffix(tmp_path):
    write_sequence(tmp_path, "seq", 2)
    masks = tmp_path / "Annotations" / "seq"
    for mask in masks.iterdir():
        mask.rename(mask.with_suffix(".PNG"))
    (seq,) = find_sequences(tmp_path)
    assert [p.name for p in seq.masks] == ["00000.PNG", "00001.PNG"]


def big_sequence(root):
    """Noisy 96 x 128 frames, so that a cut keeps the headers."""
    write_sequence(root, "seq", 3)
    rng = np.random.default_rng(0)
    for t in range(3):
        ids = np.zeros((96, 128), np.uint8)
        ids[10:50, 20:90] = 1
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), np.uint8)).save(
            root / "JPEGImages" / "seq" / f"{t:05d}.jpg")
        Image.fromarray(ids).convert("P").save(root / "Annotations" / "seq" / f"{t:05d}.png")


@pytest.mark.parametrize(("cut", "said"), [
    ("JPEGImages/seq/00001.jpg", "00001.jpg is truncated (JPEG end marker missing)"),
    ("Annotations/seq/00001.png", "00001.png is truncated (PNG end chunk missing); copy or "
     "export it again"),
])
def test_a_frame_or_mask_cut_short_is_the_clips_one_line(tmp_path, cut, said):
    big_sequence(tmp_path)
    cut_short(tmp_path / cut)
    error = VideoClipDataset(tmp_path, image_size=16, num_frames=3, hflip_prob=0.0)[0]["error"]
    assert said in error and "\n" not in error
    assert "JPEGImages/<sequence>" not in error  # a cut file is no layout problem


def test_a_sequence_given_as_a_video_file_says_so(tmp_path):
    write_sequence(tmp_path, "seq", 3)
    for frame in (tmp_path / "JPEGImages" / "seq").iterdir():
        frame.unlink()
    (tmp_path / "JPEGImages" / "seq").rmdir()
    (tmp_path / "JPEGImages" / "seq.mp4").write_bytes(b"not read")
    with pytest.raises(DataError, match=r"a video file, seq\.mp4, is not read: extract its"):
        find_sequences(tmp_path)


@pytest.mark.parametrize("augmented", [False, True])
def test_frames_of_two_sizes_in_a_clip_are_its_one_line(tmp_path, augmented):
    """A worker's bare ValueError from np.stack with the augmentations before."""
    write_sequence(tmp_path, "seq", 3)
    ids = np.zeros((30, 40), np.uint8)
    ids[4:10, 3:9] = 3
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "JPEGImages/seq/00002.jpg")
    Image.fromarray(ids).convert("P").save(tmp_path / "Annotations/seq/00002.png")
    augmentation = ClipAugmentation() if augmented else None
    dataset = VideoClipDataset(tmp_path, image_size=16, num_frames=3, hflip_prob=0.0,
                               augmentation=augmentation)
    error = dataset[0]["error"]
    assert "00002.jpg is 40x30 but 00000.jpg is 20x16 (WxH)" in error, error
    assert "frames of sequence seq must have one size" in error
