"""Mutation audit 18: cli/key_typo's close-key hint where the misspelt key is at the top level (no
parent to name) or under a node that is not a mapping (a misspelt group, a key under a value):
the hint or Hydra's own line, never a traceback."""

import pytest

from samhq_train.cli.hydra_command import check_command_line
from samhq_train.config_check import ConfigError


@pytest.mark.parametrize(("override", "message"), [
    ("seedd=1", "seedd: no such key; did you mean seed? (+seedd=1 would add it as a new key)"),
    ("optimizerr.lr=1", "Could not override 'optimizerr.lr'. To append to your config use "
     "+optimizerr.lr=1 (Key 'optimizerr' is not in struct)"),
    ("seed.x=1", "Could not override 'seed.x'. To append to your config use +seed.x=1"),
], ids=["top-level", "no-such-node", "under-a-value"])
def test_a_misspelt_key_is_one_config_error_line(override, message):
    with pytest.raises(ConfigError) as err:
        check_command_line("train", [override], ())
    assert str(err.value).startswith(message), str(err.value)
