"""Write a model for other runtimes: the official .pth, a transformers directory, safetensors (full
or HQ-only) and ONNX of the prompt encoder + HQ mask decoder (SAM 1 and SAM 2.1 families, checked
with onnxruntime).

The weight formats are written by `samhq_train.model.save_checkpoint` and read back here to check
that each file holds exactly the model's tensors.

Outputs are checked before anything is written (check_output_dir): an --out that is a file, not
writable or under a missing folder, or a target file that exists (unless overwrite), is one
OutputError line; a failed export removes what it wrote.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samhq_train.model import (
    SamHQ,
    atomic_write,
    canonical_format,
    detect_variant,
    hq_state_dict,
    is_lora_key,
    merge_lora,
    read_state_dict,
    save_checkpoint,
    trained_state_dict,
)
from samhq_train.model.promptable import PromptableModel

EXPORT_TARGETS = ("sam_hq", "transformers", "safetensors", "hq_only", "delta", "onnx")
# after the family's image features (OnnxPromptDecoder.feature_inputs)
ONNX_PROMPT_INPUTS = (
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
)
ONNX_OUTPUTS = ("masks", "iou_predictions", "low_res_masks")


class OutputError(ValueError):
    """An output folder or file that cannot be written as asked; the message names it."""


def check_output_dir(
    out_dir: str | os.PathLike,
    targets: list[Path] | tuple[Path, ...] = (),
    *,
    overwrite: bool = False,
    create_parents: bool = False,
    what: str = "--out",
    taken_hint: str = "pass --overwrite to replace it, or give another --out or --name",
) -> None:
    """Refuse, before any work, an output folder that cannot take `targets`: a file, a folder
    that is not writable, a missing parent (unless create_parents), or targets that exist
    (a file, or a non-empty folder) when not `overwrite`. Writes nothing."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{what} {out_dir} is a file, not a folder: give a folder")
    existing = out_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what} {out_dir}: {existing} is a file, not a folder")
    if existing != out_dir and existing != out_dir.parent and not create_parents:
        raise OutputError(
            f"{what} {out_dir}: its parent folder {out_dir.parent} does not exist; create it "
            "first, or give another folder"
        )
    try:  # os.access is not enough (root, read-only file systems): try a real file
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{what} {out_dir}: {existing} is not writable ({err.strerror})") from None
    if overwrite:
        return
    taken = [p for p in map(Path, targets) if p.is_file() or (p.is_dir() and any(p.iterdir()))]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise OutputError(f"{taken[0]} already exists{more}: {taken_hint}")


def export_paths(out_dir: str | os.PathLike, name: str) -> dict[str, Path]:
    """Where each target is written (the one home of these names): <out_dir>/<name>.pth,
    <name>_transformers/, <name>.safetensors, <name>_hq.safetensors, <name>_decoder.onnx."""
    out_dir = Path(out_dir)
    return {
        "sam_hq": out_dir / f"{name}.pth",
        "transformers": out_dir / f"{name}_transformers",
        "safetensors": out_dir / f"{name}.safetensors",
        "hq_only": out_dir / f"{name}_hq.safetensors",
        "delta": out_dir / f"{name}_delta.safetensors",
        "onnx": out_dir / f"{name}_decoder.onnx",
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
) -> dict[str, Path]:
    """Write `model` to each target; with verify, read every file back and compare it.

    LoRA adapters are merged into plain weights for every full target and ONNX (once, on a
    copy); `delta` holds what `policy` trained, adapters unmerged.

    name defaults to sam_hq_<variant> (the official file name). hq_token_only / multimask_output
    are baked into the ONNX graph (the official ONNX export does the same). Existing target
    files are refused unless `overwrite` (OutputError); when a target fails, the files this call
    wrote (and the folder, if it made it) are removed before the error propagates.
    """
    targets = [canonical_format(t) for t in targets]
    unknown = [t for t in targets if t not in EXPORT_TARGETS]
    if unknown:
        raise ValueError(f"unknown export target(s) {unknown}; choose from {EXPORT_TARGETS}")
    plain = merge_lora(copy.deepcopy(model)) if any(is_lora_key(k) for k in model.state_dict()) else model
    variant = detect_variant(plain.state_dict())
    paths = export_paths(out_dir, name or f"sam_hq_{variant or 'custom'}")
    targets = list(dict.fromkeys(targets))
    opts = dict(opset=onnx_opset, hq_token_only=hq_token_only, multimask_output=multimask_output)
    check_output_dir(
        out_dir, [paths[t] for t in targets], overwrite=overwrite, create_parents=create_parents
    )
    made = [p for p in [Path(out_dir), *Path(out_dir).parents] if not p.exists()]
    new = [paths[t] for t in targets if not paths[t].exists()]  # removed again on failure
    try:
        return {
            t: _export_one(model if t == "delta" else plain, paths[t], t, variant, verify, opts, policy)
            for t in targets
        }
    except BaseException:
        for path in new:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        for folder in made:  # deepest first; only folders this call created and left empty
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


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
    else:
        save_checkpoint(model, path, target, variant=variant, policy=policy)
        if verify:
            verify_weights(model, path, target, policy)
    return path


def verify_weights(model: nn.Module, path: str | os.PathLike, target: str, policy="hq") -> None:
    """Raise unless `path` holds exactly the model's tensors (only the HQ ones for hq_only, the
    policy's trained ones for delta)."""
    expected = model.state_dict()
    if target == "hq_only":
        expected = hq_state_dict(expected)
    elif target == "delta":
        expected = trained_state_dict(model, policy)
    found, _ = read_state_dict(path, target)
    if set(found) != set(expected):
        diff = sorted(set(found) ^ set(expected))
        raise RuntimeError(
            f"{path} does not hold the model's keys ({len(diff)} differ, first: {diff[:5]})"
        )
    bad = [k for k, v in expected.items() if not torch.equal(found[k], v.detach().cpu())]
    if bad:
        raise RuntimeError(f"{path}: {len(bad)} tensors differ from the model, first: {bad[:5]}")


class OnnxPromptDecoder(nn.Module):
    """Prompt encoder + HQ mask decoder + upsampling to the original size, in ONNX-friendly form,
    for the SAM 1 family; OnnxSam2PromptDecoder changes the family's parts (its image features,
    the padding point, the resize rule). ONNX_DECODERS picks one for a model.

    One image, one prompt of N points (N dynamic). As in SAM's ONNX export, a box is two points
    with labels 2 (top-left) and 3 (bottom-right); without a box, append a padding point (0, 0)
    with label -1. Coordinates are in the S x S model frame (scale them like the predictor).
      image_embeddings 1 x C x S/16 x S/16, early_features 1 x S/16 x S/16 x C_vit (the features),
      point_coords 1 x N x 2, point_labels 1 x N, mask_input 1 x 1 x S/4 x S/4,
      has_mask_input 1 (1.0 uses mask_input), orig_im_size 2 (H, W as float)
    -> masks 1 x M x H x W logits, iou_predictions 1 x M_iou, low_res_masks 1 x M x S/4 x S/4
    (M, M_iou: 1 each, or as the model's decode gives them with multimask_output / hq_token_only).
    """

    # the features' fields -> their ONNX input names, in field order
    feature_inputs = {"embedding": "image_embeddings", "early": "early_features"}

    def __init__(
        self, model: PromptableModel, *, hq_token_only: bool = False, multimask_output: bool = False
    ):
        super().__init__()
        self.model = model
        self.hq_token_only = hq_token_only
        self.multimask_output = multimask_output

    @property
    def input_names(self) -> tuple[str, ...]:
        return (*self.feature_inputs.values(), *ONNX_PROMPT_INPUTS)

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.model.prompt_encoder

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # labels 2 / 3 are the box corners, as in SAM's ONNX export
        return self.prompt_encoder.embed_points(coords, labels, pad=False)

    def forward(self, *inputs):
        """inputs: the image features' tensors (in field order), then point_coords,
        point_labels, mask_input, has_mask_input, orig_im_size."""
        n = len(self.feature_inputs)
        features = self.model.features_type.from_tensors(dict(zip(self.feature_inputs, inputs[:n])))
        point_coords, point_labels, mask_input, has_mask_input, orig_im_size = inputs[n:]
        encoder = self.prompt_encoder
        sparse = self.embed_points(point_coords, point_labels)
        dense = has_mask_input * encoder.mask_downscaling(mask_input)
        dense = dense + (1 - has_mask_input) * encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        low_res, iou = self.model.decode_embedded(
            features,
            sparse,
            dense,
            multimask_output=self.multimask_output,
            hq_token_only=self.hq_token_only,
        )
        return self.upsample(low_res, orig_im_size), iou, low_res

    def upsample(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        """SamHQ.postprocess_masks with the sizes as tensors (the resize rule in float64)."""
        s = self.model.image_size
        masks = F.interpolate(masks, (s, s), mode="bilinear", align_corners=False)
        size = orig_im_size.to(torch.float64)
        input_size = torch.floor(size * (s / size.max()) + 0.5).to(torch.int64)
        masks = masks[..., : input_size[0], : input_size[1]]
        size = size.to(torch.int64)
        return F.interpolate(masks, (size[0], size[1]), mode="bilinear", align_corners=False)

    def example_features(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Random image features of the model's shapes, in field order."""
        grid = self.prompt_encoder.image_embedding_size
        vit_dim = self.model.mask_decoder.compress_vit_feat[0].in_channels
        return (
            torch.randn(1, self.prompt_encoder.embed_dim, *grid, generator=gen),
            torch.randn(1, *grid, vit_dim, generator=gen),
        )

    def example_inputs(
        self, n_points: int = 3, seed: int = 0, *, has_mask: bool = True
    ) -> tuple[torch.Tensor, ...]:
        """Random inputs of the right shapes and dtypes (float32), in input_names order."""
        gen = torch.Generator().manual_seed(seed)
        s, low = self.model.image_size, self.model.mask_input_size
        return (
            *self.example_features(gen),
            torch.rand(1, n_points, 2, generator=gen) * s,
            torch.randint(0, 2, (1, n_points), generator=gen).float(),
            torch.randn(1, 1, low, low, generator=gen),
            torch.tensor([float(has_mask)]),
            torch.tensor([s * 1.5, s * 0.75]),
        )


class OnnxSam2PromptDecoder(OnnxPromptDecoder):
    """OnnxPromptDecoder of the SAM 2.1 family. The features are what SAM2ImagePredictor keeps,
    as in Meta's SAM 2 ONNX exports: image_embeddings 1 x C x S/16 x S/16 (no_mem_embed added),
    high_res_feats_0 1 x C/8 x S/4 x S/4, high_res_feats_1 1 x C/4 x S/8 x S/8. The prompt inputs
    are SAM 1's, box corners first as SAM 2 orders them, except that the graph appends the padding
    point SAM 2 always adds (so none is given without a box); the low-res logits are resized
    straight to orig_im_size (SAM 2 resizes to the square, it does not pad)."""

    feature_inputs = {
        "embedding": "image_embeddings",
        "high_res_0": "high_res_feats_0",
        "high_res_1": "high_res_feats_1",
    }

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.model.sam_prompt_encoder

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.prompt_encoder.embed_points(coords, labels, pad=True)

    def upsample(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        return self.model.postprocess_masks(masks, None, orig_im_size.to(torch.int64))

    def example_features(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        h, w = self.prompt_encoder.image_embedding_size
        decoder = self.model.sam_mask_decoder
        return (
            torch.randn(1, self.prompt_encoder.embed_dim, h, w, generator=gen),
            torch.randn(1, decoder.conv_s0.out_channels, 4 * h, 4 * w, generator=gen),
            torch.randn(1, decoder.conv_s1.out_channels, 2 * h, 2 * w, generator=gen),
        )


ONNX_DECODERS: dict[str, type[OnnxPromptDecoder]] = {
    "sam1": OnnxPromptDecoder,
    "sam2": OnnxSam2PromptDecoder,
    "sam3": OnnxSam2PromptDecoder,  # SAM 3's interactive decoder is SAM 2.1's
}


def onnx_decoder(
    model: PromptableModel, *, hq_token_only: bool = False, multimask_output: bool = False
) -> OnnxPromptDecoder:
    """The family's OnnxPromptDecoder around `model` (an fp32 CPU copy if needed), in eval mode."""
    decoder = ONNX_DECODERS[model.family]
    return decoder(
        _cpu_float32(model), hq_token_only=hq_token_only, multimask_output=multimask_output
    ).eval()


def export_onnx(
    model: PromptableModel,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    hq_token_only: bool = False,
    multimask_output: bool = False,
) -> Path:
    """Write the family's OnnxPromptDecoder of `model` (fp32, CPU) to `path`, the number of
    points dynamic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = onnx_decoder(model, hq_token_only=hq_token_only, multimask_output=multimask_output)

    def write(tmp: str) -> None:
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                wrapper.example_inputs(),
                tmp,
                dynamo=False,  # the TorchScript exporter: the dynamo one needs onnxscript
                input_names=list(wrapper.input_names),
                output_names=list(ONNX_OUTPUTS),
                dynamic_axes={
                    "point_coords": {1: "num_points"},
                    "point_labels": {1: "num_points"},
                    "masks": {2: "height", 3: "width"},
                },
                opset_version=opset,
                do_constant_folding=True,
            )

    atomic_write(path, write)
    return path


def onnx_session(path: str | os.PathLike):
    """An onnxruntime CPU session for an exported decoder."""
    try:
        import onnxruntime
    except ImportError as err:
        raise RuntimeError(
            "checking the ONNX export needs onnxruntime: pip install -e '.[onnx]' (or skip the "
            "check with verify=False / --no-verify)"
        ) from err

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(session, inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    """Run an exported decoder (an onnx_session) on its inputs, in the graph's input order."""
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(inputs):
        raise ValueError(f"the ONNX decoder takes {len(names)} inputs ({names}), got {len(inputs)}")
    feed = {name: tensor.cpu().numpy() for name, tensor in zip(names, inputs)}
    return session.run(list(ONNX_OUTPUTS), feed)


def check_onnx(
    model: PromptableModel,
    path: str | os.PathLike,
    *,
    hq_token_only: bool = False,
    multimask_output: bool = False,
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> float:
    """Compare onnxruntime with torch on random inputs (1 to 5 points, with and without a mask
    prompt); raise if they differ beyond atol + rtol * |torch|. Returns the largest difference."""
    wrapper = onnx_decoder(model, hq_token_only=hq_token_only, multimask_output=multimask_output)
    session = onnx_session(path)
    worst = 0.0
    for seed, n_points in enumerate((1, 2, 5)):
        inputs = wrapper.example_inputs(n_points, seed + 1, has_mask=seed % 2 == 1)
        with torch.no_grad():
            expected = [t.numpy() for t in wrapper(*inputs)]
        for name, got, want in zip(ONNX_OUTPUTS, run_onnx(session, inputs), expected):
            if got.shape != want.shape:
                raise RuntimeError(
                    f"{path}: onnxruntime {name} has shape {got.shape}, torch {want.shape}"
                )
            diff = np.abs(got - want)
            worst = max(worst, float(diff.max()))
            if (diff > atol + rtol * np.abs(want)).any():
                raise RuntimeError(
                    f"{path}: onnxruntime {name} differs from torch by up to {diff.max():.3g} "
                    f"({n_points} points)"
                )
    return worst


def _cpu_float32(model: PromptableModel) -> PromptableModel:
    """The model itself if it is already fp32 on the CPU, else a copy that is (never moves it)."""
    param = next(model.parameters())
    if param.device.type == "cpu" and param.dtype == torch.float32:
        return model
    return copy.deepcopy(model).to("cpu", torch.float32)
