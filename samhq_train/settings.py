"""How a typed settings record checks its fields: one rule per key, one line naming the full key.

The records that config values feed (``PromptConfig``, ``TrainablePolicy``, ``LoraSettings``)
check themselves in ``__post_init__`` with these helpers, so the config check, the datamodule and
a script that builds a record by hand all get the same refusal::

    data.prompts.num_points=0: expected an integer >= 1
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from samhq_train.errors import ConfigError

ABSENT = object()  # a key the config does not have


def show(value: Any) -> str:
    """A value as the user wrote it in yaml / on the command line (null, true, [a, b], {k: v})."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


class SettingError(ConfigError, ValueError):
    """A setting of the wrong type or range; the message names the full config key:
    ``{key}={value}: expected {accepted}``, or `message` as given. A ConfigError (and so a
    SetupError) wherever it is raised: the config check lets it through unchanged."""

    def __init__(self, key: str, value: Any = None, accepted: str = "", *, message: str = ""):
        super().__init__(message or f"{key}={show(value)}: expected {accepted}")
        self.key = key


def known_keys(prefix: str, given: Sequence[str], known: Sequence[str]) -> None:
    """SettingError for the first of `given` that is not in `known` (a typo, another group's)."""
    for key in given:
        if key not in known:
            message = f"{prefix}.{key} is not a setting here: use {', '.join(known)}"
            raise SettingError(f"{prefix}.{key}", message=message)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def require(key: str, value: Any, ok: Callable[[Any], bool], accepted: str) -> None:
    """SettingError unless ok(value)."""
    if not ok(value):
        raise SettingError(key, value, accepted)


def int_at_least(key: str, value: Any, low: int, *, extra: Sequence[int] = (), note: str = ""):
    accepted = f"an integer >= {low}" + (f" ({note})" if note else "")
    require(key, value, lambda v: is_int(v) and (v >= low or v in extra), accepted)


def number(key: str, value: Any, ok: Callable[[float], bool], accepted: str) -> None:
    require(key, value, lambda v: is_number(v) and ok(v), accepted)


def one_of(key: str, value: Any, choices: Sequence) -> None:
    shown = ", ".join(map(str, choices))
    require(key, value, lambda v: isinstance(v, str) and v in choices, f"one of {shown}")


def settings_mapping(key: str, value: Any, known: Sequence[str]) -> dict:
    """`value`, a mapping of the settings `known` (null: none set), as a plain dict; SettingError
    for anything else (model.lora=5), which dict() would refuse in its own words or misread."""
    if value is None:
        return {}
    require(key, value, lambda v: isinstance(v, Mapping), f"a mapping of {', '.join(known)}")
    return dict(value)


class ConfigReader:
    """Checks keys of one composed config with the rules above; an absent key (or a null one,
    unless required) passes. Every refusal is a SettingError naming the full key."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def get(self, key: str):
        """The value at `key`, or ABSENT."""
        try:
            return OmegaConf.select(self.cfg, key, default=ABSENT, throw_on_missing=True)
        except OmegaConfBaseException as err:  # a missing mandatory value or a broken ${...}
            raise SettingError(key, message=f"{key}: {str(err).splitlines()[0]}") from None

    def present(self, key: str, required: bool = False):
        """The value at `key`; ABSENT when it is absent (or null and not required)."""
        value = self.get(key)
        if value is ABSENT and required:
            raise SettingError(key, message=f"{key} is missing: set it")
        return ABSENT if value is None and not required else value

    def check(self, key: str, ok: Callable[[Any], bool], accepted: str, required: bool = False):
        """The value (None when absent) after require()."""
        value = self.present(key, required)
        if value is ABSENT:
            return None
        require(key, value, ok, accepted)
        return value

    def int_at_least(self, key: str, low: int, extra=(), note: str = "", required: bool = False):
        value = self.present(key, required)
        if value is not ABSENT:
            int_at_least(key, value, low, extra=extra, note=note)

    def number(self, key: str, accepted: str, ok: Callable[[float], bool], required: bool = False):
        value = self.present(key, required)
        if value is not ABSENT:
            number(key, value, ok, accepted)

    def choice(self, key: str, choices: Sequence, required: bool = False):
        """The value (None when absent) after one_of()."""
        value = self.present(key, required)
        if value is ABSENT:
            return None
        one_of(key, value, choices)
        return value

    def boolean(self, key: str):
        return self.check(key, lambda v: isinstance(v, bool), "true or false")

    def group(self, key: str, accepted: str, required: bool = False) -> bool:
        """Whether `key` holds a mapping; anything else but absence (null included) is refused."""
        value = self.get(key)
        if value is ABSENT:
            if required:
                raise SettingError(key, message=f"{key} is missing: choose {accepted}")
            return False
        require(key, value, lambda v: isinstance(v, DictConfig), accepted)
        return True


__all__ = [
    "ABSENT",
    "ConfigReader",
    "SettingError",
    "known_keys",
    "settings_mapping",
    "int_at_least",
    "is_int",
    "is_number",
    "number",
    "one_of",
    "require",
    "show",
]
