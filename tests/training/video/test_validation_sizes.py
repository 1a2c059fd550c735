"""Video validation checks a sequence's sizes as a training clip does
(data.video_clips.clip_frames): a mask of another size than its frame, or frames of two
sizes, are the sequence's one DataError line (never a bare np.stack ValueError, never squared
apart and scored wrong)."""

import numpy as np
from PIL import Image

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import find_sequences
from samhq_train.training.video.validation import VideoSequenceDataset


def _sequence(tmp_path):
    root = write_moving_shapes(tmp_path / "val", num_videos=1, num_frames=3, size=32)
    [seq] = find_sequences(root)
    return seq


def _resize(path, size):
    image = Image.open(path)
    image.resize(size, Image.NEAREST).save(path)  # a palette PNG keeps its mode


def _item(seq):
    return VideoSequenceDataset([seq], image_size=16)[0]


def test_masks_of_two_sizes_are_the_sequences_error_line(tmp_path):
    seq = _sequence(tmp_path)
    _resize(seq.masks[1], (24, 32))
    assert _item(seq) == {"error": (
        f"{seq.masks[1]}: a 24x32 mask for the 32x32 frame {seq.frames[1].name} (WxH); "
        "give each mask its frame's size")}


def test_a_mask_of_another_size_than_its_frame_is_refused(tmp_path):
    seq = _sequence(tmp_path)
    for mask in seq.masks:  # masks of one size, all of another size than the frames
        _resize(mask, (48, 48))
    assert _item(seq) == {"error": (
        f"{seq.masks[0]}: a 48x48 mask for the 32x32 frame {seq.frames[0].name} (WxH); "
        "give each mask its frame's size")}


def test_frames_of_two_sizes_are_refused(tmp_path):
    seq = _sequence(tmp_path)
    _resize(seq.frames[2], (40, 32))
    _resize(seq.masks[2], (40, 32))  # the mask fits its frame: the frame's size is the fault
    assert _item(seq) == {"error": (
        f"{seq.frames[2]} is 40x32 but {seq.frames[0].name} is 32x32 (WxH): the frames of "
        f"sequence {seq.name} must have one size")}


def test_sizes_past_max_frames_are_not_read(tmp_path):
    seq = _sequence(tmp_path)
    _resize(seq.frames[2], (40, 32))
    item = VideoSequenceDataset([seq], image_size=16, max_frames=2)[0]
    assert item["images"].shape == (2, 3, 16, 16)
    assert item["labels"].shape == (2, 32, 32)
    assert np.array_equal(item["labels"][0].numpy(), np.array(Image.open(seq.masks[0])))
