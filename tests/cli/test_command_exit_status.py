"""A command that succeeds exits with status 0 when run as installed: pip's wrapper is
`sys.exit(main())`, and a main that returns its record (samhq-export, -predict, -video-eval,
-video-concept-eval, -make-demo-base) would have it printed on stderr and exit with status 1."""

import sys

import pytest

from samhq_train.cli import export, video_eval
from samhq_train.errors import exit_on_user_error
from samhq_train.model import save_checkpoint
from tests.evaluation.video_data import SEQUENCES, write_dataset
from tests.reference import random_tiny_model


def run_as_installed(main, argv, monkeypatch) -> object:
    """The exit code of `sys.exit(main())` with `argv` on the command line."""
    monkeypatch.setattr(sys, "argv", ["command", *map(str, argv)])
    with pytest.raises(SystemExit) as info:
        sys.exit(main())
    return info.value.code


def test_a_record_returned_to_a_caller_is_status_0_as_a_command(monkeypatch):
    record = {"written": "x"}
    main = exit_on_user_error(lambda argv=None: record)
    assert main(["--x"]) is record  # tests and scripts get the record
    assert run_as_installed(main, [], monkeypatch) is None  # exit status 0
    status = exit_on_user_error(lambda argv=None: 3)
    assert run_as_installed(status, [], monkeypatch) == 3  # an exit status stays one


def test_samhq_export_exits_0(tmp_path, monkeypatch, capsys):
    path = save_checkpoint(random_tiny_model(seed=0), tmp_path / "m.safetensors", "safetensors")
    argv = ["--checkpoint", path, "--to", "hq_only", "--out", tmp_path / "out"]
    assert run_as_installed(export.main, argv, monkeypatch) is None
    assert "hq_only: " in capsys.readouterr().out


def test_samhq_video_eval_exits_0(tmp_path, monkeypatch, capsys):
    gt, pred = write_dataset(tmp_path, {"short": SEQUENCES["short"]})
    assert run_as_installed(video_eval.main, ["--gt", gt, "--pred", pred], monkeypatch) is None
    assert "J&F" in capsys.readouterr().out
