"""Which files are the shipped demo bases (data/demo_base/), known by their content wherever a copy
lies: data/demo_base/SHA256SUMS (the `sha256sum` listing of the shipped files) is the one record
of their bytes. A file is hashed only when its size is a shipped file's, so loading any other
checkpoint costs a few stats (a shipped file's hash: 2 to 5 ms, 3.5 to 7.5 MB)."""

from __future__ import annotations

import os
import stat

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.files import file_sha256

SHA256SUMS = DEMO_BASE_DIR / "SHA256SUMS"


def shipped_sha256() -> dict[str, str]:
    """{file name: sha256} of the shipped demo bases as SHA256SUMS lists them (empty without)."""
    try:
        lines = SHA256SUMS.read_text().splitlines()
    except FileNotFoundError:
        return {}
    listed = (line.split(maxsplit=1) for line in lines if line.strip())
    return {name.lstrip("*"): digest for digest, name in listed}


def _shipped_digests_by_size() -> dict[int, set[str]]:
    by_size: dict[int, set[str]] = {}
    for name, digest in shipped_sha256().items():
        try:
            size = (DEMO_BASE_DIR / name).stat().st_size
        except FileNotFoundError:
            continue
        by_size.setdefault(size, set()).add(digest)
    return by_size


def is_shipped_demo_base(path: str | os.PathLike) -> bool:
    """Whether `path` holds the bytes of one of the shipped demo bases (SAM weights trained on
    coarse labels, their HQ parts, where the file has them, and multimask tokens untrained): a
    copy anywhere is one, a file trained from one (other bytes) is not."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):  # a transformers directory, say
        return False
    digests = _shipped_digests_by_size().get(info.st_size)
    return bool(digests) and file_sha256(path) in digests
