"""samhq-predict refuses a --point LABEL other than 1 or 0 below as above: -1 (the decoder's
padding label) is not a prompt. Mutation audit 17."""

import pytest

from samhq_train.cli import predict as predict_command


@pytest.mark.parametrize("label", ["-1", "0.5"])
def test_a_point_label_that_is_neither_1_nor_0_is_a_usage_error(label, capsys):
    """Mutant: only labels above 1 refused."""
    with pytest.raises(SystemExit) as info:
        predict_command.parse_args(["a.png", "--checkpoint", "m.pth", "--point", "10", "10",
                                    label])
    assert info.value.code == 2
    assert f"--point 10 10 {label}: LABEL must be 1 (foreground) or 0" in capsys.readouterr().err
