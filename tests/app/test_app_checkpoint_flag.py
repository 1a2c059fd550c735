"""samhq-app takes its checkpoint as the positional CHECKPOINT or as --checkpoint (every other
command's spelling; it was "unrecognized arguments"); both at once is a usage error."""

import pytest

from samhq_train.app.command import parse_args


def test_checkpoint_flag_is_the_positional_argument():
    assert parse_args(["--checkpoint", "x.pt"]).checkpoint == "x.pt"
    assert parse_args(["x.pt"]).checkpoint == "x.pt"
    assert parse_args([]).checkpoint is None
    assert not hasattr(parse_args(["--checkpoint", "x.pt"]), "checkpoint_flag")


def test_both_spellings_at_once_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["a.pt", "--checkpoint", "b.pt"])
    assert exit_.value.code == 2
    assert "the checkpoint is given twice (a.pt and --checkpoint b.pt)" in capsys.readouterr().err
