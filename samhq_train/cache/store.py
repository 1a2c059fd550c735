"""The embedding cache on disk: one folder per frozen encoder, one safetensors file per entry.

    <data.cache.dir>/file_digests.json  the samples' file digests by file state (sidecar.py)
    <data.cache.dir>/<variant>-<store id>/
        store.json                      the encoder fingerprint this folder holds features of
        <k[:2]>/<k>.safetensors         one entry (k = sha256 of its key, see entry_key)
        claims/<chunk>.claim            a builder's claim on one batch of entries (claims.py)

An entry is one image under one transform (and view): the encoder's feature tensors (fields of the
family's ImageFeatures, batch dimension dropped) in the storage dtype, the model-frame mask it was
drawn with (float32, float16 for half storage) and, in its metadata, the key it was built for, the
format version, the CRC-32 of each tensor's bytes and the resized image size. An entry whose raw
sample could not be used (empty GT, unreadable file) holds no tensors, only the reason. Files are
written to a temporary name and renamed, so an entry is complete or absent: an interrupted build
resumes where it stopped.

Exactness: entries are content-addressed. The key holds the store id (format version, family,
variant, input size, base checkpoint sha256 or the random base's seed and weights hash, storage
dtype), the sha256 of the sample's files, the transform (albumentations' own description with
every parameter and the library versions) and, for a pre-drawn training view, its index and seed.
Anything that changes gives another file name, so a stale entry is never found.

Integrity: nothing on disk is trusted unchecked. Planning checks each entry's header (`inspect`:
size, format, key) and rebuilds a truncated, garbled, foreign or old-format entry; every `read`
checksums the tensor bytes it reads against the checksums written with them, and refuses a
mismatch (bytes changed under an intact header, NaN written in, a key that does not hash to the
file name) in one line naming the file, which it removes so that the next run rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from samhq_train.errors import UserError
from samhq_train.files import atomic_write, atomic_write_text, tensor_bytes
from samhq_train.output_check import OutputError, check_writable_folder
from samhq_train.user_files import require_regular_file

# 2: entries carry checksums of their tensor bytes; folders of version 1 are never read again
FORMAT_VERSION = 2
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
MISSING = "missing"
_MAX_HEADER = 1 << 24

log = logging.getLogger(__name__)


class CacheError(UserError, RuntimeError):
    """A cache folder or entry that cannot be used as it is; the message names it and says what
    to do."""


def digest(value) -> str:
    """sha256 hex of a JSON-able value (sorted keys) or of bytes."""
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def tensors_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """The check of an entry's tensors: each tensor's name, dtype, shape and the CRC-32 of its
    bytes, in name order. A checksum, not a cryptographic digest: it guards against damage on
    disk (anyone who edits an entry can rewrite it), and zlib's CRC-32 runs at 2.2 GB/s on one
    core here, 3.5x sha256 (SHA extensions), so the bytes read anyway are checked at little cost;
    every error of up to 32 consecutive bits is caught, any other with probability 1 - 2^-32."""
    parts = []
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        crc = zlib.crc32(t.reshape(-1).view(torch.uint8).numpy())
        parts.append(f"{name}:{str(t.dtype).removeprefix('torch.')}:{list(t.shape)}:{crc:08x}")
    return ";".join(parts)


def check_cache_dir(folder: str | os.PathLike) -> None:
    """CacheError (one line naming it) unless `folder` is, or can be created as, a writable
    folder: the cache writes its entries, claims and file digests there (output_check). One
    encoder's store folder given as the cache (any model's: it holds store.json) is refused: the
    run would build its whole store inside it, next to the entries already there."""
    if os.path.isfile(os.path.join(folder, "store.json")):
        parent = os.path.dirname(os.path.abspath(folder))
        raise CacheError(
            f"data.cache.dir={folder} is one encoder's folder inside an embedding cache (it holds "
            f"store.json): give the cache folder that holds it, data.cache.dir={parent}"
        )
    try:
        check_writable_folder(folder, "data.cache.dir", what="the embedding cache's entries")
    except OutputError as err:
        raise CacheError(str(err)) from None


def mask_dtype(dtype: str) -> torch.dtype:
    """Masks are 0-255 soft values: float16 holds them within 0.0625 (bfloat16 would not)."""
    return torch.float32 if dtype == "float32" else torch.float16


def _header_problem(path: Path, key: str) -> str | None:
    """Why the entry file's safetensors header cannot be trusted (None: sound, MISSING: absent).
    Reads the header only: the tensor bytes are checked by `read`."""
    try:
        require_regular_file(path)  # a pipe would wait for a writer; rebuilt like any damage
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            n = int.from_bytes(fh.read(8), "little")
            if size < 8 or n > min(size - 8, _MAX_HEADER):
                return f"truncated or garbled ({size} bytes)"
            header = json.loads(fh.read(n))
        meta = header.pop("__metadata__", None) or {}
        end = max((int(v["data_offsets"][1]) for v in header.values()), default=0)
        material = json.loads(meta.get("key", "null"))
    except FileNotFoundError:
        return MISSING
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        return f"garbled header ({type(err).__name__})"
    if 8 + n + end != size:
        return f"{size} bytes where its header describes {8 + n + end} (truncated)"
    if meta.get("format") != str(FORMAT_VERSION) or "tensors" not in meta:
        return "written by another cache format"
    if digest(material) != key:
        return "built for another key (a copied or renamed file)"
    return None


class FeatureStore:
    """The folder of one encoder fingerprint (see the module docstring)."""

    def __init__(self, root: str | Path, fingerprint: dict):
        self.fingerprint = {"format": FORMAT_VERSION, **fingerprint}
        self.id = digest(self.fingerprint)[:16]
        self.folder = Path(root) / f"{fingerprint.get('variant', 'model')}-{self.id}"
        self.claims = self.folder / "claims"
        self.dtype = str(fingerprint["dtype"])
        manifest = self.folder / "store.json"
        if manifest.is_file():
            try:
                found = json.loads(manifest.read_text())
            except (OSError, ValueError):
                found = None
            if found != self.fingerprint:
                raise CacheError(
                    f"embedding cache {self.folder}: store.json does not match the folder name "
                    "(edited or damaged): delete that folder, it is rebuilt"
                )

    def entry_key(self, content: str, transform: str, view: int | None = None, view_seed=None) -> str:
        """The key of one image under one transform (and pre-drawn view)."""
        return digest(self.entry_material(content, transform, view, view_seed))

    def entry_material(self, content, transform, view=None, view_seed=None) -> dict:
        """What an entry key is the hash of (stored in the entry, checked on reading)."""
        return {"store": self.id, "content": content, "transform": transform, "view": view, "view_seed": view_seed}

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def inspect(self, key: str) -> str | None:
        """None when entry `key` is present with a sound header (size, format, key), MISSING when
        absent, else why it must be rebuilt."""
        return _header_problem(self.path(key), key)

    def remove_partial(self, key: str) -> int:
        """Remove the temporary files a killed writer of entry `key` left (atomic_write's
        `.<name>.*.tmp`); called by the builder holding the entry's claim, so no live writer
        owns them. Returns how many."""
        path = self.path(key)
        if not path.parent.is_dir():
            return 0
        partial = list(path.parent.glob(f".{path.name}.*.tmp"))
        for tmp in partial:
            tmp.unlink(missing_ok=True)
        return len(partial)

    def open(self) -> None:
        """Create the folder, its claims folder and its store.json (atomically) if missing."""
        manifest = self.folder / "store.json"
        self.claims.mkdir(parents=True, exist_ok=True)
        if not manifest.is_file():
            atomic_write_text(manifest, json.dumps(self.fingerprint, indent=1, sort_keys=True))

    def write(self, key: str, material: dict, tensors: dict[str, torch.Tensor] | None, *,
              input_size=None, unusable: str | None = None, error: str = "", source: str = "") -> None:
        """Write one entry atomically. tensors: feature fields (cast to the storage dtype) and
        "mask" (cast to mask_dtype); or None with unusable = the reason and error its kind.
        source names the sample in the refusal of features that are not finite once stored."""
        meta = {"key": json.dumps(material, sort_keys=True), "format": str(FORMAT_VERSION)}
        out = {}
        if unusable is not None:
            meta.update(unusable=unusable, error=error)
        else:
            meta["input_size"] = json.dumps(list(input_size))
            for name, t in tensors.items():
                dtype = mask_dtype(self.dtype) if name == "mask" else STORAGE_DTYPES[self.dtype]
                out[name] = t.detach().to("cpu", dtype).contiguous()
            bad = [name for name, t in out.items() if not bool(torch.isfinite(t).all())]
            if bad:
                fix = ("use data.cache.dtype=float32" if self.dtype != "float32"
                       else "check model.checkpoint (the encoder outputs NaN or inf)")
                raise CacheError(
                    f"embedding cache {self.folder}: the encoder's {', '.join(bad)} for {source} "
                    f"are not finite in {self.dtype} storage; nothing was written for it: {fix}"
                )
        meta["tensors"] = tensors_checksum(out)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # a full disk: DiskFullError, one line naming the entry (nothing half-written is left)
        atomic_write(
            path, lambda tmp: save_file(out, tmp, metadata=meta), size_hint=tensor_bytes(out)
        )

    def read(self, key: str) -> dict:
        """{"tensors": {name: tensor}, "input_size": (h, w), "content": source digest} or
        {"unusable": reason, "error": kind, "content": ...}, its tensor bytes checked against their
        checksums. Raises CacheError (one line naming the file) for a missing, damaged or
        mismatched entry; a damaged or mismatched one is removed, so the next run rebuilds it."""
        path = self.path(key)
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except FileNotFoundError:
            raise CacheError(
                f"embedding cache entry {path} is missing (built before training by the cache "
                "callback; was the folder cleaned during the run?): run again, it is rebuilt"
            ) from None
        except (SafetensorError, OSError, ValueError) as err:
            self._refuse(path, f"is damaged ({err})")
        try:
            material = json.loads(meta.get("key", "null"))
        except ValueError:
            material = None
        if digest(material) != key:
            self._refuse(path, "was built for another key (a copied or renamed file)")
        if meta.get("tensors") != tensors_checksum(tensors):
            self._refuse(path, "does not match the checksum of its tensor bytes (damaged on disk)")
        if "unusable" in meta:
            return {"unusable": meta["unusable"], "error": meta.get("error", ""),
                    "content": material["content"]}
        return {"tensors": tensors, "input_size": tuple(json.loads(meta["input_size"])),
                "content": material["content"]}

    @staticmethod
    def _refuse(path: Path, problem: str):
        """Remove an entry that must not be used and raise its one-line CacheError."""
        then = "removed: run again, it is rebuilt"
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            then = f"delete it ({err.strerror}), it is rebuilt on the next run"
        raise CacheError(f"embedding cache entry {path} {problem}; not used, {then}")
