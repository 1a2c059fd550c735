"""A listing handed to find_sequences (the check stage's, run/checks.py) is taken only for the
root and clip length it was made for: another root's sequences, or sequences too short for the
clips, are never trained on. Frame and mask names with dots inside are split as Path splits
them (imaging.split_name)."""

import logging
from pathlib import Path

import pytest
from PIL import Image

from samhq_train.data.image_files import DataError
from samhq_train.data.video_clips import find_sequences, list_sequences
from samhq_train.imaging import split_name
from samhq_train.inference.video.frames import list_frames
from tests.data.test_video_clip_folders import write_sequence


def test_a_listing_for_shorter_clips_is_not_taken(tmp_path):
    root = write_sequence(tmp_path / "clips", "a", 3)
    write_sequence(root, "b", 6)
    listing = list_sequences(root, 2)
    assert [s.name for s in listing.sequences] == ["a", "b"]
    assert [s.name for s in find_sequences(root, 5, listing=listing)] == ["b"]
    with pytest.raises(DataError, match="no sequence has 7 annotated frames"):
        find_sequences(root, 7, listing=listing)


def test_another_roots_listing_is_not_taken(tmp_path):
    first = write_sequence(tmp_path / "first", "a", 3)
    second = write_sequence(tmp_path / "second", "b", 3)
    sequences = find_sequences(second, 2, listing=list_sequences(first, 2))
    assert [s.name for s in sequences] == ["b"]
    assert sequences[0].frames[0].parent == second / "JPEGImages" / "b"
    assert find_sequences(first, 2, listing=list_sequences(first, 2))[0].name == "a"


@pytest.mark.parametrize("name", ["00001.jpg", "clip.00001.jpg", "a.b.c.PNG", "x.tar.jpeg",
                                  "noext", "v1.2_frame.png"])
def test_a_name_splits_as_path_splits_it(name):
    assert split_name(name) == (Path(name).stem, Path(name).suffix)


def test_frames_named_with_dots_are_listed_and_matched_to_their_masks(tmp_path):
    images, masks = tmp_path / "JPEGImages" / "s", tmp_path / "Annotations" / "s"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for t in range(3):
        Image.new("RGB", (8, 8)).save(images / f"cam.0.{t:05d}.jpg")
        Image.new("P", (8, 8)).save(masks / f"cam.0.{t:05d}.png")
    assert [p.name for p in list_frames(images)] == [f"cam.0.{t:05d}.jpg" for t in range(3)]
    (seq,) = find_sequences(tmp_path, 3)
    assert [p.name for p in seq.masks] == [f"cam.0.{t:05d}.png" for t in range(3)]


def test_frames_are_listed_in_number_order_whatever_their_suffixs_case(tmp_path):
    images, masks = tmp_path / "JPEGImages" / "s", tmp_path / "Annotations" / "s"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    names = [f"{t}{'.JPG' if t % 2 else '.jpg'}" for t in range(1, 12)]
    for name in names:
        Image.new("RGB", (8, 8)).save(images / name, "JPEG")
        Image.new("P", (8, 8)).save(masks / f"{Path(name).stem}.PNG", "PNG")
    assert [p.name for p in list_frames(images)] == names  # 2 before 10
    (seq,) = find_sequences(tmp_path, 11)
    assert [p.name for p in seq.frames] == names
    assert [p.name for p in seq.masks] == [f"{t}.PNG" for t in range(1, 12)]


@pytest.mark.parametrize("kind, name", [("JPEGImages", "00002.jpg"), ("Annotations", "00002.png")])
def test_a_folder_among_a_sequences_files_is_refused_at_listing(tmp_path, kind, name):
    """Else found when a clip reads it, mid-training."""
    root = write_sequence(tmp_path / "clips", "a", 4)
    (root / kind / "a" / name).unlink()
    (root / kind / "a" / name).mkdir()
    with pytest.raises(DataError, match=f"{name}: .*among the frames of sequence a"):
        list_sequences(root, 2)


def test_the_frames_left_out_are_counted_apart_from_masks_without_a_frame(tmp_path, caplog):
    root = write_sequence(tmp_path / "clips", "a", 4)
    (root / "Annotations" / "a" / "00003.png").rename(root / "Annotations" / "a" / "00009.png")
    with caplog.at_level(logging.INFO, logger="samhq_train"):
        (seq,) = find_sequences(root, 2)
    assert [p.name for p in seq.masks] == ["00000.png", "00001.png", "00002.png"]
    assert f"{root}: 1 frames without a mask left out of 1 sequences' clips" in caplog.text
