"""logger=wandb without a W&B login, found before the data and the model are set up.

wandb asks for its key only when the run first logs (after the data setup, and without a
terminal it raises there). The ways wandb finds a key are documented (docs.wandb.ai: the
WANDB_API_KEY variable, or the key `wandb login` stores in the netrc file, ~/.netrc or $NETRC,
under the W&B host), as are the modes that need none (WANDB_MODE=offline / disabled, and the
logger's own offline=true); they are read here with the standard library, so the check needs no
network and no wandb internals.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from samhq_train.config_check import SetupError

DEFAULT_HOST = "https://api.wandb.ai"
NO_KEY_MODES = {"offline", "dryrun", "disabled"}


def _wandb_host() -> str:
    url = os.environ.get("WANDB_BASE_URL") or DEFAULT_HOST
    return urlparse(url if "//" in url else f"//{url}").hostname or url


def _netrc_file() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc").expanduser()


def _netrc_has_key(path: Path, host: str) -> bool:
    """Whether the netrc file at `path` holds a password for `host`; an unreadable or malformed
    file holds none (wandb could not read it either)."""
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def needs_wandb_login(logger_cfg) -> bool:
    """Whether a WandbLogger with this config would ask for a key that is nowhere to be found."""
    if bool(logger_cfg.get("offline")) or str(logger_cfg.get("mode") or "") in NO_KEY_MODES:
        return False
    if os.environ.get("WANDB_MODE", "").strip().lower() in NO_KEY_MODES:
        return False
    if os.environ.get("WANDB_API_KEY", "").strip():
        return False
    return not _netrc_has_key(_netrc_file(), _wandb_host())


def check_wandb_login(cfg) -> None:
    """SetupError, in one line with the ways to fix it, for a configured WandbLogger that has no
    W&B key and is not offline."""
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        target = str((logger_cfg or {}).get("_target_") or "")
        if not target.endswith("WandbLogger") or not needs_wandb_login(logger_cfg):
            continue
        raise SetupError(
            f"logger.{name}: no W&B login found (no WANDB_API_KEY, no key for {_wandb_host()} in "
            f"{_netrc_file()}); run `wandb login`, set WANDB_API_KEY, or log offline with "
            f"WANDB_MODE=offline or logger.{name}.offline=true"
        )


__all__ = ["check_wandb_login", "needs_wandb_login"]
