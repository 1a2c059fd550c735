"""Audit 21: errors.command_entry / run_as_main (how a command starts, in process, with a
stand-in command module) and lazy_exports (a package's names loaded on first use)."""

import sys

import pytest

from samhq_train.errors import UserError, command_entry, run_as_main
from samhq_train.lazy_exports import lazy_exports

COMMAND = """
from samhq_train.errors import UserError

def main():
    import os
    what = os.environ["AUDIT21_DOES"]
    if what == "refuse":
        raise UserError("bad --thing: give another")
    if what == "record":
        return {"a": 1}
    return int(what)
"""


@pytest.fixture
def command(tmp_path, monkeypatch):
    (tmp_path / "audit21_command.py").write_text(COMMAND)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "audit21_command"
    sys.modules.pop("audit21_command", None)


def test_run_as_main_exits_with_the_commands_status(command, monkeypatch):
    monkeypatch.setenv("AUDIT21_DOES", "4")
    with pytest.raises(SystemExit) as stop:
        run_as_main(command)
    assert stop.value.code == 4


def test_a_record_returned_is_no_exit_status(command, monkeypatch):
    monkeypatch.setenv("AUDIT21_DOES", "record")
    with pytest.raises(SystemExit) as stop:
        run_as_main(command)
    assert stop.value.code is None


def test_a_user_error_is_one_line_and_status_2(command, monkeypatch, capsys):
    """Mutant: command_entry without exit_on_user_error (a traceback)."""
    monkeypatch.setenv("AUDIT21_DOES", "refuse")
    with pytest.raises(SystemExit) as stop:
        command_entry(command)()
    assert stop.value.code == UserError("x").exit_status == 2
    assert capsys.readouterr().err.strip().endswith("bad --thing: give another")


def test_lazy_names_load_from_their_submodule_and_unknown_ones_are_attribute_errors():
    """Mutants: an unknown name answered with None (hasattr true for every name); the
    submodule looked up under another package."""
    from samhq_train.data.image_files import DataError

    loader = lazy_exports("samhq_train.data", {"DataError": "image_files"})
    assert loader("DataError") is DataError
    with pytest.raises(AttributeError, match="module 'samhq_train.data' has no attribute 'Nope'"):
        loader("Nope")
