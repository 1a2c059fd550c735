"""A config file of the user's with a character YAML does not accept (a control character: yaml's
ReaderError, a YAMLError without a problem_mark) is one config error line naming the file.
Found by mutation audit 17: _unreadable_config took it for a UnicodeDecodeError (err.start:
an AttributeError traceback)."""

import pytest

from samhq_train.cli.hydra_command import check_command_line
from samhq_train.config_check import ConfigError


def test_a_control_character_in_a_config_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_bytes(b"a: 1\x07\n")
    with pytest.raises(ConfigError) as info:
        check_command_line("train", ["--config-dir", str(tmp_path), "--config-name", "mine"],
                           folders=())
    text = str(info.value)
    assert text.startswith(f"config file {path}") and "\n" not in text, text
    assert "special characters are not allowed" in text, text
