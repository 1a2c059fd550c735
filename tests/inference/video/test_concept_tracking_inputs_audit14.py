"""samhq-video's box prompt options with --detect-every-frame (audit 14; the command line alone,
no files read): one --exemplar-box without a text is a prompt of SAM 3's video model (a box-only
prompt, Meta's "visual"), one --counter-box goes with a text."""

import pytest

from samhq_train.inference.video.command import parse_args

ARGS = ["--frames", "frames", "--checkpoint", "sam3.pt", "--bpe", "bpe.txt.gz", "--out", "out",
        "--detect-every-frame"]


def test_one_box_alone_is_a_video_model_prompt():
    """Mutant: --detect-every-frame refused without --text (a box-only prompt not let through)."""
    args = parse_args([*ARGS, "--exemplar-box", "5", "5", "40", "40"])
    assert args.text is None and args.exemplar_box == [[5, 5, 40, 40]]
    args = parse_args([*ARGS, "--text", "a car", "--counter-box", "5", "5", "40", "40"])
    assert args.counter_box == [[5, 5, 40, 40]]


def test_a_counter_box_alone_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args([*ARGS, "--counter-box", "5", "5", "40", "40"])
    assert exit_.value.code == 2
    assert "--counter-box alone finds nothing" in capsys.readouterr().err
