"""samhq-video --text and / or --exemplar-box refuses bad input in one `error:` line, exit 2,
before the frames are resized for the model (load_video is never reached) and with nothing
written."""

import numpy as np
import pytest

from samhq_train.inference.video import command, concept_tracking
from samhq_train.inference.video import predictor as video_predictor

pytest.importorskip("sam3")
from tests.model.sam3.concept.synthetic_bpe import write_merges_file  # noqa: E402

from .concept_video_files import write_concept_video_files  # noqa: E402
from .conftest import write_video  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("concept_inputs")
    return write_concept_video_files(root), write_video(root / "frames", num_frames=4)


def bad_bpe(folder):
    path = folder / "not_gzip.txt.gz"
    path.write_text("#version: 0.2\na b\n")
    return path


def short_bpe(folder):  # CLIP's layout, but too few merges for the text encoder's vocabulary
    path = folder / "short.txt.gz"
    write_merges_file(path, count=100)
    return path


# case -> (changes to the arguments: flag -> value, None drops it; what the error line says)
CASES = {
    "text without bpe": ({"--bpe": None}, "--text needs --bpe"),
    "bpe without text": ({"--text": None, "--prompts": "p.json"}, "--bpe goes with --text"),
    "text and prompts": ({"--prompts": "p.json"}, "give --prompts FILE or --text"),
    "empty text": ({"--text": " "}, "--text is empty"),
    "negative text frame": ({"--text-frame": "-1"}, "--text-frame -1: give a frame index"),
    "threshold of 1": ({"--threshold": "1"}, "--threshold must be in [0, 1)"),
    "text frame past the end": ({"--text-frame": "4"}, "--text-frame 4 does not exist"),
    "text frame past max frames": (
        {"--text-frame": "3", "--max-frames": "3"}, "frames 0 to 2 with --max-frames 3"
    ),
    "missing bpe": ({"--bpe": "missing.txt.gz"}, "missing.txt.gz does not exist"),
    "bpe not gzip": ({"--bpe": bad_bpe}, "not_gzip.txt.gz is not a readable gzipped"),
    "bpe of another vocabulary": ({"--bpe": short_bpe}, "short.txt.gz gives 614 token ids"),
    "no detector": ({"--checkpoint": "no_detector"}, "has no concept detector"),
    "no video parts": (
        {"--checkpoint": "no_video_parts"}, "no_video_parts.pt has no video parts (no tracker."
    ),
    "sam 2.1 checkpoint": ({"--checkpoint": "sam2"}, "is a sam2 model; text and exemplar"),
    "sam 2.1 variant": ({"--variant": "sam2.1_hq_hiera_t"}, "--variant sam2.1_hq_hiera_t is a"),
    "independent objects": ({"--objects": "independent"}, "batched only"),
    "no prompt at all": ({"--text": None}, "give --prompts FILE or --text"),
    "box outside the frame": (
        {"--exemplar-box": (90, 10, 130, 50)}, "--exemplar-box 90 10 130 50: box [90.0, 10.0"
    ),
    "box with x1 <= x0": ({"--counter-box": (50, 10, 50, 30)}, "must have x0 < x1 and y0 < y1"),
    "box with y1 <= y0": ({"--exemplar-box": (5, 30, 40, 29)}, "must have x0 < x1 and y0 < y1"),
    "counter box alone": (
        {"--text": None, "--counter-box": (5, 5, 40, 40)}, "--counter-box alone finds nothing"
    ),
    "box without bpe": (
        {"--text": None, "--bpe": None, "--exemplar-box": (5, 5, 40, 40)}, "--exemplar-box needs"
    ),
    "two boxes for the video model": (
        {"--exemplar-box": (5, 5, 40, 40), "--counter-box": (50, 5, 90, 40),
         "--detect-every-frame": True}, "--detect-every-frame takes one box",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_error_line_before_the_frames_are_resized(
    case, files, hq_sam2_file, tmp_path, monkeypatch, capsys
):
    found, frames = files
    checkpoints = {"no_detector": found.no_detector, "no_video_parts": found.no_video_parts,
                   "sam2": hq_sam2_file}
    args = {"--frames": frames, "--text": "a car", "--bpe": found.bpe,
            "--checkpoint": found.sam3, "--out": tmp_path / "out", "--device": "cpu"}
    changes, says = CASES[case]
    for flag, value in changes.items():
        value = value(tmp_path) if callable(value) else checkpoints.get(value, value)
        args[flag] = value
    argv = [str(a) for flag, value in args.items() if value is not None
            for a in ((flag,) if value is True else (flag, *np.atleast_1d(value)))]

    def resized(*_):
        raise AssertionError("the frames were resized for the model")

    monkeypatch.setattr(video_predictor, "load_video", resized)
    monkeypatch.setattr(concept_tracking.ConceptPredictor, "set_image", resized)
    with pytest.raises(SystemExit) as exit_:
        command.main(argv)
    assert exit_.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and says in errors[0], errors
    assert not (tmp_path / "out").exists()
