"""samhq-export as its console script runs it (main() with no argv: sys.argv): a bare checkpoint
first names --checkpoint too."""

import sys

import pytest

from samhq_train.cli import export as export_command


def test_a_bare_checkpoint_on_the_command_line_names_its_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["samhq-export", "last.ckpt", "--to", "sam_hq", "--out",
                                      str(tmp_path / "out")])
    with pytest.raises(SystemExit) as stop:
        export_command.main()
    assert stop.value.code == 2
    assert "give the weights with their flag: --checkpoint last.ckpt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_short_flag_first_is_a_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        export_command.main(["-h"])
    assert stop.value.code == 0
    assert "usage:" in capsys.readouterr().out
