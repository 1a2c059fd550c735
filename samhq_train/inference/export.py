"""Write a model for other runtimes: the official .pth, a transformers directory, safetensors (full
or HQ-only), ONNX of the prompt encoder + HQ mask decoder and ONNX of the image encoder (fp32 and
fp16; SAM 1 and SAM 2.1 families, checked with onnxruntime), and SAM 3's concept path as a folder
of ONNX graphs (onnx_concept_export.py; its decoder.onnx is this module's prompt decoder).

The ONNX prompt decoder of each family is its record's `onnx_decoder` (model/<family>/onnx.py),
traced, written and checked by onnx_decoder_export.py, with the family's default hole filling in
its metadata; the image encoder (the record's `onnx_encoder`) by onnx_encoder_export.py. The weight formats are written by
`samhq_train.model.save_checkpoint` and read back here to check that each file holds exactly the
model's tensors.

Outputs are checked before anything is written (check_output_dir): an --out that is a file, not
writable or under a missing folder, or a target file that exists (unless overwrite), is one
OutputError line; a failed export removes what it wrote. A folder target (transformers,
onnx_concept) is written whole (files.atomic_write_folder): a temporary sibling folder renamed
into place, the user's own files in an earlier one carried over. An ONNX graph that onnxruntime
runs differently from torch fails its check in one line (onnx_check.OnnxCheckError, exit status
3) and is removed. Weights with a NaN or an inf are refused before anything is written
(NonFiniteError, naming the tensor), and a full disk is one line (DiskFullError, from
atomic_write).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from samhq_train.files import atomic_write_folder
from samhq_train.finite import NonFiniteError, describe_non_finite, non_finite_names
from samhq_train.model import (
    SamHQ,
    canonical_format,
    detect_variant,
    plain_model,
    save_checkpoint,
)
from samhq_train.model.formats import RECORDS, check_writable, expected_state, inspect
from samhq_train.model.sam3.concept.detector import concept_detector
from samhq_train.output_check import OutputError, check_output_dir  # noqa: F401 - re-exported

from .onnx_check import OnnxCheckError
from .onnx_concept_export import (
    DECODER_FILE,
    GRAPH_FILES,
    check_onnx_concept,
    export_onnx_concept,
)
from .onnx_decoder_export import check_onnx, export_onnx
from .onnx_encoder_export import (
    check_onnx_encoder,
    export_onnx_encoder,
    onnx_quantization,
)

# onnx: the prompt decoder; onnx_encoder(_fp16, _int8): the image encoder that feeds it
EXPORT_TARGETS = (
    "sam_hq",
    "transformers",
    "safetensors",
    "hq_only",
    "delta",
    "onnx",
    "onnx_encoder",
    "onnx_encoder_fp16",
    "onnx_encoder_int8",
    "onnx_concept",
)
# targets written as a folder
FOLDER_TARGETS = ("transformers", "onnx_concept")
# target -> export_onnx_encoder's precision options
ONNX_ENCODER_TARGETS = {
    "onnx_encoder": {},
    "onnx_encoder_fp16": {"fp16": True},
    "onnx_encoder_int8": {"int8": True},
}


def export_paths(out_dir: str | os.PathLike, name: str) -> dict[str, Path]:
    """Where each target is written (the one home of these names): <out_dir>/<name>.pth,
    <name>_transformers/, <name>.safetensors, <name>_hq.safetensors, <name>_delta.safetensors,
    <name>_decoder.onnx, <name>_encoder.onnx, <name>_encoder_fp16.onnx, <name>_encoder_int8.onnx
    (an encoder over 2 GB keeps its weights in <file>.data beside it), <name>_concept/ (SAM 3's
    text prompts: encoder, text encoder, detector and prompt decoder graphs)."""
    out_dir = Path(out_dir)
    return {
        "sam_hq": out_dir / f"{name}.pth",
        "transformers": out_dir / f"{name}_transformers",
        "safetensors": out_dir / f"{name}.safetensors",
        "hq_only": out_dir / f"{name}_hq.safetensors",
        "delta": out_dir / f"{name}_delta.safetensors",
        "onnx": out_dir / f"{name}_decoder.onnx",
        "onnx_encoder": out_dir / f"{name}_encoder.onnx",
        "onnx_encoder_fp16": out_dir / f"{name}_encoder_fp16.onnx",
        "onnx_encoder_int8": out_dir / f"{name}_encoder_int8.onnx",
        "onnx_concept": out_dir / f"{name}_concept",
    }


def export_model(
    model: SamHQ,
    out_dir: str | os.PathLike,
    targets: list[str] | tuple[str, ...],
    *,
    name: str | None = None,
    verify: bool = True,
    onnx_opset: int = 17,
    hq_token_only: bool = False,
    multimask_output: bool = False,
    overwrite: bool = False,
    create_parents: bool = True,
    policy="hq",
    on_checked: Callable[[], None] | None = None,
) -> dict[str, Path]:
    """Write `model` to each target; with verify, read every file back and compare it.

    LoRA adapters are merged into plain weights for every full target and ONNX (once, on a
    copy); `delta` holds what `policy` trained, adapters unmerged.

    name defaults to sam_hq_<variant> (the official file name). hq_token_only / multimask_output
    are baked into the ONNX decoder graph (the official ONNX export does the same). Existing
    target files are refused unless `overwrite` (OutputError); when a target fails, the files
    this call wrote (and the folder, if it made it) are removed before the error propagates. An
    ONNX file that fails its check (OnnxCheckError: one line, exit status 3) is removed even where
    it replaced an earlier file, and the error says so. Every refusal comes before the first
    file is written; `on_checked` is called then (samhq-export prints its notes there).
    """
    targets = list(dict.fromkeys(canonical_format(t) for t in targets))
    unknown = [t for t in targets if t not in EXPORT_TARGETS]
    if unknown:
        raise ValueError(f"unknown export target(s) {unknown}; choose from {EXPORT_TARGETS}")
    plain = plain_model(model)  # once, for every target written from merged weights
    variant = detect_variant(plain.state_dict())
    paths = export_paths(out_dir, name or f"sam_hq_{variant or 'custom'}")
    sources = {t: model if t == "delta" else plain for t in targets}
    check_before_writing(sources, paths, variant, out_dir, overwrite, create_parents)
    if on_checked is not None:
        on_checked()
    opts = dict(opset=onnx_opset, hq_token_only=hq_token_only, multimask_output=multimask_output)
    made = [p for p in [Path(out_dir), *Path(out_dir).parents] if not p.exists()]
    new = [  # removed again on failure
        f for t in targets if not paths[t].exists()
        for f in ([paths[t]] if t in FOLDER_TARGETS else target_files(paths[t])) if not f.exists()
    ]
    written = {}
    try:
        for t in targets:
            written[t] = _export_one(sources[t], paths[t], t, variant, verify, opts, policy)
    except BaseException as err:
        if isinstance(err, OnnxCheckError):  # removed even where it replaced a file (overwrite)
            remove_export(paths[t], t)
            err.outcome = (
                f"{paths[t]} removed (a failed export keeps none of its new files): export "
                "with --no-verify (verify=False) to keep it for inspection, or try another "
                "--onnx-opset"
            )
        _remove_unfinished(new, made)
        raise
    return written


def check_before_writing(
    sources: dict[str, nn.Module],
    paths: dict[str, Path],
    variant: str | None,
    out_dir: str | os.PathLike,
    overwrite: bool,
    create_parents: bool,
) -> None:
    """Every refusal of an export, in one line each, before its first file: onnxruntime's
    quantization tools missing (int8), a model without the concept detector (onnx_concept),
    weights with a NaN or an inf, an output that cannot be written or exists, a model a format
    cannot hold (`sources`: target -> the model it is written from)."""
    if "onnx_encoder_int8" in sources:
        onnx_quantization()
    if "onnx_concept" in sources:
        concept_detector(sources["onnx_concept"])
    merged_first = sorted(sources, key=lambda target: target == "delta")  # as it names tensors
    check_finite_model(*dict.fromkeys(sources[t] for t in merged_first))
    check_output_dir(
        out_dir,
        [paths[t] for t in sources],
        overwrite=overwrite,
        create_parents=create_parents,
        folder_targets=[paths[t] for t in FOLDER_TARGETS],
    )
    for target, source in sources.items():
        if target in RECORDS:
            check_writable(source, paths[target], target, variant)


def concept_files() -> list[str]:
    """Every file the onnx_concept export may write in its folder: the graphs, and the weights
    of a graph over 2 GB (<graph>.data); any other file there is the user's."""
    graphs = (*GRAPH_FILES, DECODER_FILE)
    return [*graphs, *(f"{graph}.data" for graph in graphs)]


def target_files(path: Path) -> list[Path]:
    """A file target's file, and beside it the weights of a graph over 2 GB: <file>.data, and
    the <file>.new.data an export stopped while it swapped them may leave
    (onnx_encoder_export.place_graph)."""
    return [path, path.with_name(f"{path.name}.data"), path.with_name(f"{path.name}.new.data")]


def remove_export(path: Path, target: str) -> None:
    """Remove a target's file (and its .data files) or, for onnx_concept, the files the export
    writes in its folder (and the folder, if that leaves it empty)."""
    folder = target in FOLDER_TARGETS
    for file in [path / f for f in concept_files()] if folder else target_files(path):
        file.unlink(missing_ok=True)
    if folder and path.is_dir() and not any(path.iterdir()):
        path.rmdir()


def _remove_unfinished(new: list[Path], made: list[Path]) -> None:
    """After a failed export: the target files it created and the folders it made, if empty."""
    for path in new:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for folder in made:  # deepest first; only folders this call created and left empty
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def check_finite_model(*models: nn.Module | None) -> None:
    """NonFiniteError (one line naming the tensor) if a weight of the models holds a NaN or inf:
    such weights are not exported."""
    for model in filter(None, models):
        state = model.state_dict()
        bad = non_finite_names(state)
        if bad:
            raise NonFiniteError(
                f"not exporting: the weight {describe_non_finite(bad, state)} - the weights "
                "diverged in training; nothing was written: export an earlier checkpoint"
            )


def _export_one(model, path: Path, target: str, variant, verify: bool, onnx: dict, policy) -> Path:
    if target == "onnx":
        export_onnx(model, path, **onnx)
        if verify:
            check_onnx(
                model,
                path,
                hq_token_only=onnx["hq_token_only"],
                multimask_output=onnx["multimask_output"],
            )
    elif target == "onnx_concept":
        atomic_write_folder(
            path, lambda folder: _write_concept_graphs(model, folder, onnx["opset"]),
            replaces=concept_files(),
        )
        if verify:
            check_onnx_concept(model, path)
            check_onnx(model, path / DECODER_FILE)
    elif target in ONNX_ENCODER_TARGETS:
        precision = ONNX_ENCODER_TARGETS[target]
        export_onnx_encoder(model, path, opset=onnx["opset"], **precision)
        if verify:
            check_onnx_encoder(model, path, **precision)
    else:
        save_checkpoint(model, path, target, variant=variant, policy=policy)
        if verify:
            verify_weights(model, path, target, policy)
    return path


def _write_concept_graphs(model, folder: Path, opset: int) -> None:
    export_onnx_concept(model, folder, opset=opset)
    export_onnx(model, folder / DECODER_FILE, opset=opset)  # with the refinement's settings


def verify_weights(model: nn.Module, path: str | os.PathLike, target: str, policy="hq") -> None:
    """Raise unless `path`, inspected and read as `target`, holds exactly the tensors of the
    model that the target's format record says (all, the HQ ones, the policy's trained ones)."""
    expected = expected_state(model, target, policy)
    found = inspect(path, target).read().state
    if set(found) != set(expected):
        diff = sorted(set(found) ^ set(expected))
        raise RuntimeError(
            f"{path} does not hold the model's keys ({len(diff)} differ, first: {diff[:5]})"
        )
    bad = [k for k, v in expected.items() if not torch.equal(found[k], v.detach().cpu())]
    if bad:
        raise RuntimeError(f"{path}: {len(bad)} tensors differ from the model, first: {bad[:5]}")
