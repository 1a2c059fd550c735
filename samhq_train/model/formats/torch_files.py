"""Official PyTorch weight files: SAM `sam_vit_*.pth`, SAM-HQ `sam_hq_vit_*.pth`, MobileSAM, and
Meta SAM 2.1 / HQ-SAM 2 `*.pt` (the state dict under "model"), and SAM-HQ's mask decoder alone as
SAM-HQ's train.py saves it (`hq_decoder`). Which a file is, is in its keys: any HQ key makes it
SAM-HQ, the decoder's tokens under no module name the decoder alone."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samhq_train.files import atomic_write

from ..registry import FAMILIES, family_of_model
from .base import (
    LIGHTNING_VERSION_KEY,
    LOOP_STATE_KEY,
    MODEL_PREFIX,
    PROVENANCE_KEY,
    STATE_KEY,
    TORCH_SUFFIXES,
    CheckpointError,
    Found,
    Read,
    State,
    cpu_tensors,
    detect_variant,
    family_of,
    hq_state_dict,
    onto_base_record,
    plain_weights_record,
    whole_model,
    without_hq,
    without_wrapper_prefixes,
)
from .errors import (
    FileProblem,
    describe_read_error,
    holds_python_objects,
    starts_like_torch,
    unreadable,
)
from .safetensors_files import looks_like_safetensors


def load_torch(
    path: Path, *, kind: str = "a PyTorch checkpoint", python_objects: bool = False
) -> Any:
    """torch.load on the CPU, tensors and plain values only (memory-mapped when the file is an
    archive, so that looking at a big file reads only what is used); a damaged file is one
    FileProblem line. python_objects: a complete archive that also holds Python objects (older
    Lightning hyperparameters) is then read in full."""
    if not path.is_file():
        raise FileProblem(path, "is not a file")
    with open(path, "rb") as handle:
        mmap = handle.read(4) == b"PK\x03\x04"
    if mmap and is_torchscript(path):  # torch.load would warn, then hand it to torch.jit.load
        raise FileProblem(
            path, "is a TorchScript program (torch.jit.save), not a weights file: load it with "
            "torch.jit.load, save its state_dict() with torch.save and give that file"
        )
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # torch raises many types for damaged or non-torch files
        if not (python_objects and holds_python_objects(path, err)):
            raise unreadable(path, kind, describe_read_error(path, err)) from None
        # Python objects may hold tensors where _storage_sizes does not look: not compared
        return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
    if mmap and sorted(_storage_sizes(content)) != sorted(_record_sizes(path)):
        # a memory-mapped load takes each tensor's size from the pickle and does not check it
        # against its record (a plain load does): a short record would read its neighbours
        raise unreadable(
            path, kind, "the archive is damaged (a tensor's data does not fill its record: copy "
            "or download it again)"
        )
    return content


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive: its records hold constants.pkl (torch.save's never do)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False  # a damaged archive: torch.load's error says so
    return any(name.split("/", 1)[-1] == "constants.pkl" for name in names)


def _storage_sizes(content: Any) -> list[int]:
    """The byte sizes of the distinct non-empty tensor storages in a loaded object."""
    sizes, stack = {}, [content]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            if storage.nbytes():
                sizes[storage.data_ptr()] = storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return list(sizes.values())


def _record_sizes(path: Path) -> list[int]:
    """The byte sizes of the non-empty tensor records (<archive>/data/<n>) of a torch zip."""
    with zipfile.ZipFile(path) as archive:
        return [
            info.file_size for info in archive.infolist()
            if _TENSOR_RECORD.search(info.filename) and info.file_size
        ]


_TENSOR_RECORD = re.compile(r"(^|/)data/\d+$")


def is_tensor_dict(content: Any) -> bool:
    """Whether what torch.load gave is a non-empty dict of tensors (a plain state dict)."""
    return (
        isinstance(content, dict)
        and bool(content)
        and all(isinstance(v, torch.Tensor) for v in content.values())
    )


def tensor_state(path: Path, content: Any, *, named_as_weights: bool = True) -> State:
    """The official state dict in what torch.load gave: a plain one, or one that a training script
    kept beside its own state (under one of WRAPPED_UNDER: SAM 2.1 files under "model"), saved
    from a wrapped model or not (without_wrapper_prefixes). A training checkpoint or anything but
    tensors is refused, naming the file."""
    if is_training_checkpoint(content):
        if named_as_weights:
            problem = (
                "is a training checkpoint (Lightning), not an official SAM / SAM-HQ weights "
                "file: rename it to .ckpt, or pass format=lightning (--format lightning)"
            )
        else:
            problem = (
                f"is a training checkpoint without the .ckpt extension: rename it to "
                f"{path.name}.ckpt, or pass format=lightning (--format lightning)"
            )
        raise FileProblem(path, problem)
    if isinstance(content, dict) and not is_tensor_dict(content):
        wrapped = [key for key in WRAPPED_UNDER if is_tensor_dict(content.get(key))]
        if len(wrapped) > 1:
            raise FileProblem(
                path, f"holds several state dicts ({', '.join(repr(k) for k in wrapped)}): "
                "save the one to use alone (torch.save(checkpoint[<key>], <file>))"
            )
        if wrapped:
            content = content[wrapped[0]]
    if not is_tensor_dict(content):
        raise FileProblem(
            path, "is not a state dict of tensors (official SAM / SAM-HQ layout expected)"
        )
    return without_wrapper_prefixes(content)


# where training scripts keep the model's state dict beside their own (optimizer, epoch, ...)
WRAPPED_UNDER = ("model", "state_dict", "model_state", "model_state_dict")


def is_training_checkpoint(content: Any) -> bool:
    """A Lightning checkpoint: its "state_dict" with Lightning's version stamp, our record or
    the loop state beside it, or in our layout (every key under "model."); a {"state_dict": ...}
    of official key names is weights that a script wrapped."""
    if not (isinstance(content, dict) and STATE_KEY in content):
        return False
    state = content[STATE_KEY]
    ours = isinstance(state, dict) and bool(state) and all(
        isinstance(k, str) and k.startswith(MODEL_PREFIX) for k in state
    )
    marks = (LIGHTNING_VERSION_KEY, PROVENANCE_KEY, LOOP_STATE_KEY)
    return ours or any(k in content for k in marks)


def probe(path: Path) -> Found:
    """sam or sam_hq, with the state dict (read once, memory-mapped) and its variant."""
    named_as_weights = path.suffix in (*TORCH_SUFFIXES, ".ckpt")
    state = tensor_state(path, load_torch(path), named_as_weights=named_as_weights)
    decoder = is_hq_decoder(state)
    if decoder:
        state = as_model_keys(state)
    family = family_of(state)
    try:
        variant = detect_variant(state)
    except CheckpointError:
        variant = None  # loading names the key that does not fit
    format = "sam_hq" if any(family.is_hq_key(k) for k in state) else "sam"
    return Found("hq_decoder" if decoder else format, state, family.name, variant)


# the output tokens of SAM-HQ's mask decoder: a state dict holding them under no module name is
# that decoder alone, as SAM-HQ's train.py saves it (its MaskDecoderHQ's state_dict)
HQ_DECODER_TOKENS = ("iou_token.weight", "mask_tokens.weight", "hf_token.weight")
SAM1_DECODER = FAMILIES["sam1"].decoder_prefix


def is_hq_decoder(state: State) -> bool:
    return all(token in state for token in HQ_DECODER_TOKENS)


def as_model_keys(decoder: State) -> State:
    """SAM-HQ's mask decoder alone, under the model's key names."""
    return {SAM1_DECODER + k: v for k, v in decoder.items()}


def read_hq_decoder(path: Path, held: State | None) -> Read:
    return Read(held if held is not None else as_model_keys(tensor_state(path, load_torch(path))))


def decoder_keys(model: nn.Module, policy) -> State:
    """The model's mask decoder (SAM's and the HQ parts): what an hq_decoder file holds."""
    prefix = family_of_model(model).decoder_prefix
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}


def sniff(path: Path) -> bool:
    """A PyTorch file by its first bytes; the check is loose (a pickle starts with one byte
    0x80), so a file of safetensors' stricter shape is not one."""
    return starts_like_torch(path) and not looks_like_safetensors(path)


def read(path: Path, held: State | None) -> Read:
    return Read(held if held is not None else tensor_state(path, load_torch(path)))


def write_official(
    model: nn.Module, path: str | os.PathLike, variant=None, policy=None, *, with_hq: bool = True
) -> None:
    """The official layout of the model's family (SAM 2.1 files keep it under "model");
    with_hq=False: without the HQ parts, as Meta's own files (read back as format sam)."""
    family = family_of_model(model)
    state = cpu_tensors(model.state_dict())
    if not with_hq:
        state = {k: v for k, v in state.items() if not family.is_hq_key(k)}
    official = family.official_layout(state)
    atomic_write(path, lambda tmp: torch.save(official, tmp))


_OFFICIAL = "an official or exported SAM / SAM-HQ file"
# both are found and read alike (one container); their keys tell them apart (probe)
_TORCH_FILE = dict(container="torch", probe=probe, suffixes=TORCH_SUFFIXES, sniff=sniff, read=read)

SAM = plain_weights_record(
    what=_OFFICIAL,
    name="sam",
    summary="official SAM weights (sam_vit_*.pth, mobile_sam.pt, sam2.1_hiera_*.pt): no HQ "
    "parameters, the HQ parts keep their fresh init",
    **_TORCH_FILE,
    expected_keys=lambda model, policy: without_hq(model.state_dict()),
    optional_keys=hq_state_dict,
)

SAM_HQ = plain_weights_record(
    what=_OFFICIAL,
    name="sam_hq",
    summary="official SAM-HQ / HQ-SAM 2 weights (sam_hq_vit_*.pth, sam2.1_hq_hiera_l.pt)",
    **_TORCH_FILE,
    expected_keys=whole_model,
    write=write_official,
)

HQ_DECODER = onto_base_record(
    holds="SAM-HQ's mask decoder (SAM-HQ's train.py saves it alone as epoch_<n>.pth)",
    name="hq_decoder",
    summary="SAM-HQ's mask decoder alone, as SAM-HQ's official train.py saves it (epoch_<n>.pth: "
    "SAM's decoder and the HQ parts, no image encoder), applied onto the SAM file it trained on",
    **{**_TORCH_FILE, "read": read_hq_decoder},
    expected_keys=decoder_keys,
)
