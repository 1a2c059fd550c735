"""A config file of the user's (--config-dir) whose top level is a YAML list is one config error
line naming the file (Hydra named the config, `In 'model/mine'`, or, for a group whose package
holds nothing else, merged the list under the group's key without a word)."""

import pytest

from samhq_train.cli.hydra_command import check_command_line
from samhq_train.config_check import ConfigError


@pytest.mark.parametrize(
    ("args", "listed"),
    [
        (["--config-name", "mine"], "mine.yaml"),  # the primary config
        (["experiment=mine"], "experiment/mine.yaml"),  # was accepted: `experiment: [a]`
        (["--config-name", "uses_list"], "model/mine.yaml"),  # reached through a defaults list
        # a group of the user's own, its package holding nothing else: merged as `extra: [a]`
        (["--config-name", "uses_own_group"], "extra/lst.yaml"),
        (["experiment=nested"], "experiment/parts/lst.yaml"),  # an entry inside a group's file
    ],
    ids=["primary", "group-choice", "defaults-list", "own-group", "nested-entry"],
)
def test_a_list_config_file_is_one_line_naming_it(tmp_path, args, listed):
    for folder in ("model", "experiment", "extra", "experiment/parts"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "mine.yaml").write_text("- a\n- b\n")
    (tmp_path / "extra" / "lst.yaml").write_text("- a\n")
    (tmp_path / "experiment" / "parts" / "lst.yaml").write_text("- a\n")
    (tmp_path / "experiment" / "nested.yaml").write_text("defaults:\n  - parts: lst\n  - _self_\n")
    (tmp_path / "uses_own_group.yaml").write_text(
        "defaults:\n  - train\n  - extra: lst\n  - _self_\n")
    (tmp_path / "mine.yaml").write_text("- a\n")
    (tmp_path / "uses_list.yaml").write_text(
        "defaults:\n  - train\n  - override /model: mine\n  - _self_\n")
    with pytest.raises(ConfigError) as info:
        check_command_line("train", ["--config-dir", str(tmp_path), *args], folders=())
    assert str(info.value) == (
        f"config file {tmp_path / listed}: its top level is a list; a config file holds keys and "
        "values (a YAML mapping, `key: value` lines)")
