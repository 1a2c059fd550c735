"""Video validation squares each frame as it reads it (video_clips.squared_clip): a sequence is
held at the model's size, plus one full-size frame, not whole at full size (a 720p frame is
2.7 MB; a validation sequence can have hundreds of frames). The numbers are those of squaring
the frames read whole (the earlier reading), for validation's sequences and training's clips."""

import tracemalloc

import numpy as np
import torch

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import (
    VideoClipDataset,
    find_sequences,
    read_frame,
    square,
)
from samhq_train.training.video.validation import VideoSequenceDataset


def _squared_whole(seq, frames, size, squared_labels):
    """The earlier reading: every frame read at full size, then squared."""
    pairs = [read_frame(seq, t) for t in frames]
    images = np.stack([square(image, size) for image, _ in pairs])
    if squared_labels:
        return images, np.stack([square(ids, size, nearest=True) for _, ids in pairs])
    return images, np.stack([ids for _, ids in pairs])


def test_a_validation_sequence_is_what_squaring_its_frames_read_whole_gives(tmp_path):
    root = write_moving_shapes(tmp_path / "val", num_videos=2, num_frames=6, size=48)
    sequences = find_sequences(root, 2)
    for max_frames in (None, 4):
        for index, seq in enumerate(sequences):
            item = VideoSequenceDataset(sequences, 32, max_frames)[index]
            images, labels = _squared_whole(seq, range(max_frames or 6), 32, False)
            ids = [int(i) for i in np.unique(labels[0]) if i != 0]
            first = square(labels[0], 32, nearest=True)[None, None] == np.array(ids)[
                :, None, None, None]
            assert torch.equal(item["images"], torch.from_numpy(images).permute(0, 3, 1, 2))
            assert torch.equal(item["labels"], torch.from_numpy(labels))
            assert torch.equal(item["first_masks"], torch.from_numpy(first))
            assert item["object_ids"] == ids and ids


def test_a_training_clip_is_what_squaring_its_frames_read_whole_gives(tmp_path):
    root = write_moving_shapes(tmp_path / "train", num_videos=2, num_frames=6, size=48)
    data = VideoClipDataset(root, image_size=32, num_frames=3, hflip_prob=0.0, seed=5)
    for index in range(len(data)):
        clip = data[index]
        seq = data.sequences[index]
        starts = [t for t in range(4) if torch.equal(
            clip["images"][0], torch.from_numpy(square(read_frame(seq, t)[0], 32)).permute(
                2, 0, 1))]
        images, labels = _squared_whole(seq, range(starts[0], starts[0] + 3), 32, True)
        masks = labels[:, None] == np.array(clip["object_ids"])[None, :, None, None]
        assert torch.equal(clip["images"], torch.from_numpy(images).permute(0, 3, 1, 2))
        assert torch.equal(clip["masks"], torch.from_numpy(masks))


def test_a_validation_sequence_is_read_one_full_size_frame_at_a_time(tmp_path):
    frames, size, side = 30, 240, 16
    root = write_moving_shapes(tmp_path / "val", num_videos=1, num_frames=frames, size=size)
    dataset = VideoSequenceDataset(find_sequences(root, 2), side)
    full_frame = size * size * 3
    kept = frames * (size * size + side * side * 3)  # the labels at full size, the frames squared
    tracemalloc.start()
    try:
        item = dataset[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "error" not in item, item
    assert peak < kept + 6 * full_frame, (peak, kept, full_frame)
