"""samhq-video-eval --checkpoint's plan on DAVIS annotations with void pixels (value 255, which
samhq-video-eval does not score) and macOS "._<frame>.png" metadata files beside the PNGs: void is
no object (never a prompt, not an object on the first annotated frame), and the hidden files are
left out as every folder listing leaves them out."""

import numpy as np
import pytest

from samhq_train.inference.video.benchmark import VosInputError, plan_benchmark

from .test_vos_benchmark import NUM_FRAMES, ids_of, save_indexed, write_davis

VOID = 255


def annotations(davis):
    return davis / "Annotations" / "480p" / "together"


def test_void_pixels_are_no_object(tmp_path):
    davis = write_davis(tmp_path / "davis", names=("together",))
    for i in range(NUM_FRAMES):
        ids = ids_of(i, late=False)
        ids[:3] = VOID  # a void band along the top, as DAVIS marks unclear pixels
        save_indexed(annotations(davis) / f"{i:05d}.png", ids)
    (seq,) = plan_benchmark(davis, davis)
    assert sorted(seq.prompts) == [1, 2]
    assert not any(mask[:3].any() for _, mask in seq.prompts.values())


def test_a_first_frame_of_only_void_holds_no_object(tmp_path):
    davis = write_davis(tmp_path / "davis", names=("together",))
    first = annotations(davis) / "00000.png"
    save_indexed(first, np.full_like(ids_of(0, late=False), VOID))
    with pytest.raises(VosInputError, match="the first annotated frame of together holds no "):
        plan_benchmark(davis, davis)


def test_macos_metadata_files_beside_the_annotations_are_left_out(tmp_path):
    davis = write_davis(tmp_path / "davis", names=("together",))
    (annotations(davis) / "._00000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (seq,) = plan_benchmark(davis, davis)
    assert sorted(seq.prompts) == [1, 2]
