"""`samhq-export --to onnx`: the family's prompt decoder (model/onnx_decoder.py's wrapper) as
an ONNX graph with its metadata, and its check against torch in onnxruntime (`check_onnx`);
`run_onnx` feeds a decoder session in its graph's input order. export.py writes the targets."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from samhq_train.compat import onnx_torchscript_exporter
from samhq_train.files import write_errors
from samhq_train.model import family_of_model
from samhq_train.model.onnx_decoder import ONNX_OUTPUTS, OnnxPromptDecoder
from samhq_train.model.promptable import PromptableModel

from .onnx_check import OnnxCheckError, shape_finding
from .onnx_encoder_export import on_cpu, onnx_session, save_with_metadata


def onnx_decoder(
    model: PromptableModel, *, hq_token_only: bool = False, multimask_output: bool = False
) -> OnnxPromptDecoder:
    """The family's OnnxPromptDecoder (its record's onnx_decoder) around `model` (an fp32 CPU copy
    if needed), in eval mode."""
    family = family_of_model(model)
    if family.onnx_decoder is None:
        raise ValueError(f"cannot export ONNX: the {family.name} family has no ONNX prompt decoder")
    return family.onnx_decoder(
        on_cpu(model), hq_token_only=hq_token_only, multimask_output=multimask_output
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
    points dynamic, with decoder_metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = onnx_decoder(model, hq_token_only=hq_token_only, multimask_output=multimask_output)
    # torch.onnx writes the graph itself: a full disk there is write_errors' line, naming `path`
    with write_errors(path), tempfile.TemporaryDirectory(
        dir=path.parent, prefix=f".{path.name}."
    ) as tmp:
        traced = Path(tmp) / "decoder.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # SAM 2.1's dynamic single-mask choice indexes with argmax / arange, never negative
            # indices, which the warning is about (check_onnx compares the graph with torch)
            warnings.filterwarnings(
                "ignore",
                message="Exporting aten::index operator",
                category=UserWarning,
                module=r"torch\.onnx\.",
            )
            torch.onnx.export(
                wrapper,
                wrapper.example_inputs(),
                str(traced),
                **onnx_torchscript_exporter(),  # the dynamo exporter needs onnxscript
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
        save_with_metadata(traced, path, decoder_metadata(model))
    return path


def decoder_metadata(model: PromptableModel) -> dict[str, str]:
    """What a runtime needs beyond the decoder graph (metadata_props): the family, and the area of
    the background holes that SamHQPredictor.predict fills in the low-res logits by default before
    upsampling (fill_hole_area: 256 for SAM 3, 0 for none)."""
    family = family_of_model(model)
    return {"family": family.name, "fill_hole_area": str(family.image_fill_hole_area)}


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
    prompt); OnnxCheckError (one line, the output furthest off) if they differ beyond atol x
    max(1, the output's largest |torch|) + rtol * |torch|: upsampled logits near 0 between large
    ones carry their neighbours' rounding. Returns the largest difference."""
    wrapper = onnx_decoder(model, hq_token_only=hq_token_only, multimask_output=multimask_output)
    session = onnx_session(path)
    worst = 0.0
    for seed, n_points in enumerate((1, 2, 5)):
        inputs = wrapper.example_inputs(n_points, seed + 1, has_mask=seed % 2 == 1)
        example = f"{n_points} point{'s' * (n_points > 1)}, " + (
            "with a mask input" if seed % 2 else "without a mask input"
        )
        with torch.no_grad():
            expected = [t.numpy() for t in wrapper(*inputs)]
        failures = []
        for name, got, want in zip(ONNX_OUTPUTS, run_onnx(session, inputs), expected):
            shape = shape_finding(name, got, want, example)
            if shape is not None:
                raise OnnxCheckError(path, "the prompt decoder", shape)
            diff = np.abs(got - want)
            worst = max(worst, float(diff.max()))
            scaled = atol * max(1.0, float(np.abs(want).max(initial=0.0)))
            beyond = float((diff / (scaled + rtol * np.abs(want))).max())
            if not beyond <= 1:  # a NaN fails too
                failures.append((beyond, f"onnxruntime's {name} differs from torch by up to "
                                         f"{diff.max():.3g} (tolerance {scaled:.3g} + {rtol:g} x "
                                         f"|torch|; {example})"))
        if failures:
            raise OnnxCheckError(path, "the prompt decoder", max(failures)[1])
    return worst
