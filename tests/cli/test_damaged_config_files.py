"""A config file of the user's (--config-dir, --config-path) that is not YAML text is one config
error line naming the file, before any work (it was yaml's or the codec's traceback)."""

import pytest

from samhq_train.cli.hydra_command import check_command_line
from samhq_train.config_check import ConfigError


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"a: [1, 2\n", ", line 2, column 1: expected ',' or ']', but got '<stream end>'; fix "
                        "the YAML there (or remove the file)"),
        (b"a: 1\n\tb: 2\n", ", line 2, column 1: found character '\\t' that cannot start any "
                            "token; fix the YAML there (or remove the file)"),
        (b"\x00\x01\xff\xfe", " is not UTF-8 text (invalid start byte at byte 2); give a YAML "
                              "file there"),
    ],
    ids=["unclosed", "tab", "binary"],
)
def test_a_damaged_config_file_is_one_line_naming_it(tmp_path, content, problem):
    (tmp_path / "mine.yaml").write_bytes(content)
    with pytest.raises(ConfigError) as info:
        check_command_line("train", ["--config-dir", str(tmp_path), "--config-name", "mine"],
                           folders=())
    assert str(info.value) == f"config file {tmp_path / 'mine.yaml'}{problem}"
