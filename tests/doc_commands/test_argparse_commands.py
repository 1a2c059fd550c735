"""The argparse commands the documentation shows (samhq-export, -predict, -amg, -concept, -app,
-video, -video-eval, -video-concept-eval, -make-demo-base and the scripts; tests/doc_commands/
commands.py finds them): the example's arguments parse (the command's own parser, stopped before
any work); samhq-export, samhq-predict and samhq-video-eval then run for real on tiny generated
files (commands.RUN). The commands that are not this project's (commands.NOT_CHECKED) are listed
here and left alone."""

from __future__ import annotations

import argparse
import contextlib
import io
import runpy
import sys
from pathlib import Path

import pytest

from tests.doc_commands.commands import (
    COMMANDS,
    NOT_CHECKED,
    OUTPUT_ARGS,
    action,
    all_stand_ins,
    kind_of,
    substituted,
)
from tests.documentation import PROGRAMS, ROOT, Command

ENTRY_POINTS = {  # argparse command -> its main
    "export": "samhq_train.cli.export:main",
    "predict": "samhq_train.cli.predict:main",
    "amg": "samhq_train.inference.amg_command:main",
    "concept": "samhq_train.inference.concept_command:main",
    "app": "samhq_train.app.command:main",
    "make_demo_base": "samhq_train.cli.make_demo_base:main",
    "video_eval": "samhq_train.cli.video_eval:main",
    "video_concept_eval": "samhq_train.cli.video_concept_eval:main",
    "video": "samhq_train.inference.video.command:main",
}
ARGPARSE_COMMANDS = [c for c in COMMANDS if kind_of(c) == "argparse"]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, str]:
    return all_stand_ins(tmp_path_factory.mktemp("stand_ins"))


class _Parsed(BaseException):
    """Raised once the command's parser accepted the arguments: stop before any work."""


def _main_of(name: str | None, program: str):
    if name in ENTRY_POINTS:
        module, function = ENTRY_POINTS[name].split(":")
        return getattr(__import__(module, fromlist=[function]), function)
    return runpy.run_path(str(ROOT / program.split()[1]), run_name="readme_check")["main"]


def check_argparse(command: Command, args: list[str], out: Path, run: bool, monkeypatch) -> None:
    kind, name = PROGRAMS.get(command.program, ("argparse", None))
    main = _main_of(name, command.program)
    args = [str(out / Path(a).name) if prev in OUTPUT_ARGS else a
            for prev, a in zip(["", *args], args)]
    monkeypatch.setattr(sys, "argv", [command.program, *args])
    monkeypatch.chdir(out)  # default output folders (predictions/) land there
    if run:
        main()
        return
    original = argparse.ArgumentParser.parse_known_args  # parse_args calls it too

    def parse_then_stop(parser, args=None, namespace=None):
        try:
            _, extra = original(parser, args, namespace)
        except SystemExit as err:
            raise AssertionError(f"the arguments do not parse (exit {err.code})") from None
        if extra and sys._getframe(1).f_code.co_name == "parse_args":  # not parse_known_args'
            raise AssertionError(f"unrecognized arguments: {extra}")
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", parse_then_stop)
    with pytest.raises(_Parsed):
        main()


@pytest.mark.parametrize("command", ARGPARSE_COMMANDS, ids=[c.text[:90] for c in ARGPARSE_COMMANDS])
def test_documented_command(command, stand_ins, tmp_path, monkeypatch):
    what = action(command)
    if what.startswith("not checked"):
        assert command.text.split()[0] in NOT_CHECKED
        return
    args = Command(command.source, substituted(command.text, stand_ins)).args
    with contextlib.redirect_stdout(io.StringIO()):
        check_argparse(command, args, tmp_path, what.startswith("run"), monkeypatch)


def test_export_help_lists_every_target_and_its_file(capsys):
    """samhq-export --help is made from EXPORT_TARGETS, export_paths and the format records."""
    from samhq_train.cli.export import parse_args
    from samhq_train.inference.export import EXPORT_TARGETS, export_paths
    from samhq_train.model import FORMAT_ALIASES

    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in help_text.splitlines()
            if line.startswith("  ") and line.split()[0] in EXPORT_TARGETS}
    assert set(rows) == set(EXPORT_TARGETS)
    for target, path in export_paths(".", "<name>").items():
        assert rows[target].rstrip("/") == path.name
    assert all(f'"{alias}"' in help_text for alias in FORMAT_ALIASES)
