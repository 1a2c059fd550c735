"""Video validation reads its sequences' frames as a training clip reads them
(data.video_clips.read_frame_image): a damaged validation frame is refused as a video frame,
to be copied or extracted again, never removed (which would shift every later frame's index)."""

from pathlib import Path

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import find_sequences
from samhq_train.training.video.validation import VideoSequenceDataset


def test_a_cut_validation_frame_is_refused_as_a_video_frame(tmp_path):
    root = write_moving_shapes(tmp_path / "val", num_videos=1, num_frames=3, size=32)
    frame = sorted((root / "JPEGImages" / "shapes000").glob("*.jpg"))[1]
    frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 2])
    item = VideoSequenceDataset(find_sequences(root), image_size=32)[0]
    assert item == {"error": (
        f"cannot read frame file {frame}: {Path(frame).name} is truncated (JPEG end marker "
        "missing); copy or extract it again (removing it would shift every later frame's index)"
    )}
