"""samhq-evaluate's output_dir (Hydra's run folder follows it) that cannot be used is refused
naming output_dir, the setting the user gave (it named hydra.run.dir, which they never set)."""

import pytest

from samhq_train.cli.hydra_command import check_command_line
from samhq_train.output_check import OutputError


def test_an_output_dir_that_is_a_file_is_named_as_given(tmp_path):
    (tmp_path / "results.md").write_text("mine")
    with pytest.raises(OutputError) as info:
        check_command_line("eval", [f"output_dir={tmp_path / 'results.md'}"],
                           folders=("hydra.run.dir", "output_dir"), run_dir_follows="output_dir")
    assert str(info.value) == (
        f"output_dir={tmp_path / 'results.md'} is a file, not a folder: give a folder (it is "
        "created if missing)")
    assert (tmp_path / "results.md").read_text() == "mine"
