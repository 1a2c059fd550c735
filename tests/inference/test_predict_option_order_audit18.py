"""Mutation audit 18: samhq-predict checks its pixel limits before its prompts (c096e13's order):
a command line with a bad --max-pixels and no prompt names --max-pixels first."""

import pytest

from samhq_train.cli.predict import parse_args


def test_a_bad_max_pixels_is_named_before_a_missing_prompt(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(["image.png", "--checkpoint", "x.pth", "--max-pixels", "-1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--max-pixels -1: give a number of pixels >= 0" in err, err
