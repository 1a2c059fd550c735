"""A misspelt config key on a Hydra command line: Hydra refuses it proposing "+key=value", which
would add the typo as a new key; when the key's node has a key of a close name, name that."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


def key_typo(message: str, config_name: str | None, overrides: Sequence[str]) -> str | None:
    """For Hydra's refusal of a key the config lacks ("Could not override 'metrics.dilaton_ratio'.
    To append to your config use +metrics.dilaton_ratio=2"), when a key of its node has a close
    name: one line naming it first (the "+key" Hydra proposes would add the typo as a new key).
    None: no close key (Hydra's message stays)."""
    found = re.match(r"Could not override '([^']+)'\.", message)
    if not found:
        return None
    key = found.group(1)
    parent, _, leaf = key.rpartition(".")
    given = [o for o in overrides if o.split("=", 1)[0] == key]
    others = [o for o in overrides if o.split("=", 1)[0] != key]
    try:  # a sweep's (--multirun) first job would do: its default stands in for it
        others = [o.input_line for o in OverridesParser.create().parse_overrides(others)
                  if not o.is_sweep_override()]
        config = compose(config_name, others)
    except (HydraException, OmegaConfBaseException):
        return None
    node = OmegaConf.select(config, parent) if parent else config
    if not isinstance(node, DictConfig):
        return None
    close = difflib.get_close_matches(leaf, [str(k) for k in node.keys()], n=1)
    if not close:
        return None
    new_key = f" (+{given[0]} would add it as a new key)" if given else ""
    return f"{key}: no such key; did you mean {parent + '.' if parent else ''}{close[0]}?{new_key}"
