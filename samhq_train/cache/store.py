"""The embedding cache on disk: one folder per frozen encoder, one safetensors file per entry.

    <data.cache.dir>/file_digests.json  the samples' file digests by file state (FileDigestMemo)
    <data.cache.dir>/<variant>-<store id>/
        store.json                      the encoder fingerprint this folder holds features of
        <k[:2]>/<k>.safetensors         one entry (k = sha256 of its key, see entry_key)

An entry is one image under one transform (and view): the encoder's feature tensors (fields of the
family's ImageFeatures, batch dimension dropped) in the storage dtype, the model-frame mask it was
drawn with (float32, float16 for half storage) and, in its metadata, the key it was built for and
the resized image size. An entry whose raw sample could not be used (empty GT, unreadable file)
holds no tensors, only the reason. Files are written to a temporary name and renamed, so an entry
is complete or absent: an interrupted build resumes where it stopped.

Exactness: entries are content-addressed. The key holds the store id (format version, family,
variant, input size, base checkpoint sha256 or the random base's seed and weights hash, storage
dtype), the sha256 of the sample's files, the transform (albumentations' own description with
every parameter and the library versions) and, for a pre-drawn training view, its index and seed.
Anything that changes gives another file name, so a stale entry is never found; a file whose
stored key does not hash to its name, or a store.json that does not match its folder name, is
refused in one line naming the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from samhq_train.errors import UserError

FORMAT_VERSION = 1
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class CacheError(UserError, RuntimeError):
    """A cache folder that cannot be used as it is; the message names it and says what to do."""


def digest(value) -> str:
    """sha256 hex of a JSON-able value (sorted keys) or of bytes."""
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def file_digest(*paths) -> str:
    """sha256 over the bytes of the files, in order (each prefixed by its length)."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            h.update(str(os.fstat(f.fileno()).st_size).encode() + b":")
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _file_state(path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class FileDigestMemo:
    """file_digest results remembered by the files' state (size, mtime, ctime, inode, device) in
    one JSON sidecar beside the stores, so planning a run reads only new or changed files. ctime
    changes on every write and cannot be set back, so a rewritten file is always hashed again."""

    NAME = "file_digests.json"

    def __init__(self, root: str | Path):
        self.path = Path(root) / self.NAME
        try:
            loaded = json.loads(self.path.read_text())
            self.entries = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):  # absent or damaged: everything is hashed again
            self.entries = {}
        self.changed = False

    def __call__(self, *paths) -> str:
        """file_digest(*paths), from the sidecar when no file changed since it was recorded."""
        key = "\n".join(os.path.abspath(p) for p in paths)
        state = [_file_state(p) for p in paths]
        known = self.entries.get(key)
        if known is not None and known[0] == state:
            return known[1]
        value = file_digest(*paths)
        if [_file_state(p) for p in paths] == state:  # not recorded if a file changed while hashed
            self.entries[key] = [state, value]
            self.changed = True
        return value

    def save(self) -> None:
        """Write the sidecar atomically (after planning) if anything was added."""
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.NAME}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries))
        os.replace(tmp, self.path)
        self.changed = False


def mask_dtype(dtype: str) -> torch.dtype:
    """Masks are 0-255 soft values: float16 holds them within 0.0625 (bfloat16 would not)."""
    return torch.float32 if dtype == "float32" else torch.float16


class FeatureStore:
    """The folder of one encoder fingerprint (see the module docstring)."""

    def __init__(self, root: str | Path, fingerprint: dict):
        self.fingerprint = {"format": FORMAT_VERSION, **fingerprint}
        self.id = digest(self.fingerprint)[:16]
        self.folder = Path(root) / f"{fingerprint.get('variant', 'model')}-{self.id}"
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

    def open(self) -> None:
        """Create the folder and its store.json (atomically) if missing."""
        manifest = self.folder / "store.json"
        if not manifest.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = manifest.with_name(f".store.json.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.fingerprint, indent=1, sort_keys=True))
            os.replace(tmp, manifest)

    def write(self, key: str, material: dict, tensors: dict[str, torch.Tensor] | None, *,
              input_size=None, unusable: str | None = None, error: str = "") -> None:
        """Write one entry atomically. tensors: feature fields (cast to the storage dtype) and
        "mask" (cast to mask_dtype); or None with unusable = the reason and error its kind."""
        meta = {"key": json.dumps(material, sort_keys=True)}
        out = {}
        if unusable is not None:
            meta.update(unusable=unusable, error=error)
        else:
            meta["input_size"] = json.dumps(list(input_size))
            for name, t in tensors.items():
                dtype = mask_dtype(self.dtype) if name == "mask" else STORAGE_DTYPES[self.dtype]
                out[name] = t.detach().to("cpu", dtype).contiguous()
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file(out, str(tmp), metadata=meta)
        os.replace(tmp, path)

    def read(self, key: str) -> dict:
        """{"tensors": {name: tensor}, "input_size": (h, w)} or {"unusable": reason, "error": kind}.
        Raises CacheError (naming the folder) for a missing, damaged or mismatched entry."""
        path = self.path(key)
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except FileNotFoundError:
            raise CacheError(
                f"embedding cache {self.folder}: entry {path.name} is missing (built before training "
                "by the cache callback; was the folder cleaned during the run?)"
            ) from None
        except (SafetensorError, OSError, ValueError) as err:
            raise CacheError(
                f"embedding cache {self.folder}: entry {path.name} is damaged ({err}): delete it "
                "(or the folder), it is rebuilt"
            ) from None
        if digest(json.loads(meta.get("key", "null"))) != key:
            raise CacheError(
                f"embedding cache {self.folder}: entry {path.name} was built for another key "
                "(copied or renamed file): delete that folder, it is rebuilt"
            )
        if "unusable" in meta:
            return {"unusable": meta["unusable"], "error": meta.get("error", "")}
        return {"tensors": tensors, "input_size": tuple(json.loads(meta["input_size"]))}
