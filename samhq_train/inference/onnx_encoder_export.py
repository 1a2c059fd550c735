"""Write and check the ONNX image encoder of a model (its family record's `onnx_encoder`), fp32,
fp16 or int8, so that with the prompt-decoder ONNX (onnx_decoder_export.export_onnx) a whole
prediction runs in onnxruntime without torch.

The graph takes the resized image (B x 3 x h x w float32 RGB 0-255, resized by the family's rule,
which the file names in its metadata: `resize` = longest_side or resize, `image_size` = S) and
normalises (and pads) itself; its outputs are named like the decoder's feature inputs. The fp16
file keeps float32 inputs and outputs (the casts are in the graph), so both files are used alike.
The int8 file is the fp32 graph dynamically quantized by onnxruntime (quantize_int8): int8 weights
of the linear layers, activations quantized at run time; same inputs, outputs and metadata.
A model over protobuf's 2 GB limit (vit_h in fp32) keeps its weights in one `<file>.data` beside
the .onnx; files are replaced by rename (files.atomic_write), temporary ones removed on failure,
the graph and the data file it names matching at every instant (place_graph).
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

from samhq_train.compat import onnx_torchscript_exporter
from samhq_train.errors import UserError
from samhq_train.files import atomic_write, write_errors
from samhq_train.model import detect_variant, family_of_model, plain_model
from samhq_train.model.onnx_encoder import ONNX_IMAGE_INPUT, OnnxImageEncoder
from samhq_train.model.promptable import PromptableModel

from .onnx_check import compare_relative

# largest difference from the fp32 torch encoder, relative to the largest |value| of each output:
# fp32 is the same arithmetic reordered; fp16 rounds weights and activations (about 3 significant
# digits per op, accumulated over the encoder's depth)
FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 3e-2
# int8 (quantize_int8) rounds every linear layer's weights and inputs to 8 bits; measured (largest
# difference / largest |value|): at full size with random weights vit_b 0.013, sam2.1_hq_hiera_t
# 0.023, vit_tiny 0.048; the test models (ViT, TinyViT, Hiera) 0.027-0.040. One linear layer's
# weight scale made 4x too large gives 0.24 and more (2x: 0.09-0.5), a wrong graph O(1)
INT8_TOLERANCE = 0.1
PROTOBUF_LIMIT = (
    2**31 - 2**20
)  # bytes an .onnx file may hold in itself (protobuf's 2 GB, less room)


class OnnxExportError(UserError, ValueError):
    """A model that cannot be written as an ONNX image encoder; the message says why."""


class QuantizationUnavailableError(UserError, ImportError):
    """onnxruntime.quantization (for the int8 encoder) cannot be imported."""


def onnx_quantization():
    """onnxruntime.quantization, or QuantizationUnavailableError (one line) if it is missing: call
    it before any work when an int8 file is asked for."""
    try:
        import onnxruntime.quantization as quantization
    except ImportError as err:
        raise QuantizationUnavailableError(
            f"the int8 ONNX encoder needs onnxruntime.quantization, which cannot be imported "
            f"({err}): pip install -e '.[onnx]' (onnxruntime with its quantization tools), or "
            "export onnx_encoder / onnx_encoder_fp16 instead"
        ) from err
    return quantization


def onnx_encoder(model: PromptableModel, *, fp16: bool = False) -> OnnxImageEncoder:
    """The family's OnnxImageEncoder around `model` on the CPU in eval mode, LoRA merged, fp32 or
    fp16 (a copy when any of these needs one: the model's weights are never changed)."""
    family = family_of_model(model)
    if family.onnx_encoder is None:
        raise OnnxExportError(
            f"cannot export an ONNX image encoder: the {family.name} family has none (its record "
            "has no onnx_encoder)"
        )
    model = plain_model(model)  # LoRA adapters merged into plain weights (a copy), as every export
    return family.onnx_encoder(on_cpu(model, torch.float16 if fp16 else torch.float32)).eval()


def on_cpu(model: PromptableModel, dtype: torch.dtype = torch.float32) -> PromptableModel:
    """`model` itself if its weights are `dtype` on the CPU, else a copy that is: what an ONNX
    export traces (the model given is never moved or cast)."""
    param = next(model.parameters())
    if param.device.type == "cpu" and param.dtype == dtype:
        return model
    return copy.deepcopy(model).to("cpu", dtype)


def encoder_metadata(model: PromptableModel, precision: str) -> dict[str, str]:
    """What a runtime needs to prepare the encoder's input, stored in the .onnx (metadata_props)."""
    processing = model.processing
    return {
        "family": family_of_model(model).name,
        "variant": detect_variant(model.state_dict()) or "custom",
        "image_size": str(model.image_size),
        "resize": processing.eval_transform,  # longest_side (SAM 1) or resize (to S x S)
        "precision": precision,  # fp32, fp16 or int8
        "input": "image B x 3 x h x w float32 RGB 0-255, resized (not normalised, not padded)",
    }


def export_onnx_encoder(
    model: PromptableModel,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    fp16: bool = False,
    int8: bool = False,
) -> Path:
    """Write the family's OnnxImageEncoder of `model` to `path` (fp32, fp16 with float32 inputs /
    outputs, or int8: the fp32 graph quantized by quantize_int8), batch dynamic, and h x w too
    where the family pads (SAM 1)."""
    if fp16 and int8:
        raise ValueError("an ONNX encoder is fp16 or int8, not both")
    if int8:
        onnx_quantization()  # refused in one line before any work
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = onnx_encoder(model, fp16=fp16)
    precision = "int8" if int8 else "fp16" if fp16 else "fp32"
    # torch.onnx writes the graph itself: a full disk there is write_errors' line, naming `path`
    with write_errors(path), tempfile.TemporaryDirectory(
        dir=path.parent, prefix=f".{path.name}."
    ) as tmp:
        traced = Path(tmp) / "encoder.onnx"
        _trace(wrapper, traced, opset)
        if int8:
            traced = quantize_int8(traced, Path(tmp) / "int8" / "encoder.onnx")
        save_with_metadata(traced, path, encoder_metadata(wrapper.model, precision))
    return path


def _trace(wrapper: OnnxImageEncoder, path: Path, opset: int) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        # the graph is checked against torch on other sizes and batches (check_onnx_encoder)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # the rel-pos tables index with non-negative offsets only
        warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
        torch.onnx.export(
            wrapper,
            (wrapper.example_image(),),
            str(path),
            **onnx_torchscript_exporter(),  # the dynamo exporter needs onnxscript
            input_names=[ONNX_IMAGE_INPUT],
            output_names=list(wrapper.output_names),
            dynamic_axes=wrapper.dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
        )


def quantize_int8(source: Path, target: Path) -> Path:
    """Write `source` (an fp32 encoder graph) to `target` (in a folder of its own, made here)
    dynamically quantized: int8 weights (symmetric, one scale per tensor) of the MatMuls with a
    constant weight, i.e. every linear layer; their inputs are quantized to uint8 at run time.
    Kept in float32: the attention's activation x activation products and the convolutions
    (patch embedding, neck), which onnxruntime's integer kernels ran slower (one thread) and less
    accurately (measured on vit_b at 1024 px: docs/deployment.md, ONNX encoders)."""
    quantization = onnx_quantization()
    target.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()  # its advice to run onnxruntime's pre-processing first: measured no
    quiet = _DropMessage("pre-processing before quantization")  # faster, equally accurate here
    root.addFilter(quiet)
    try:
        quantization.quantize_dynamic(
            source,
            target,
            weight_type=quantization.QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=False,
            extra_options={"MatMulConstBOnly": True},
            use_external_data_format=graph_bytes(source) > PROTOBUF_LIMIT,
        )
    finally:
        root.removeFilter(quiet)
    return target


class _DropMessage(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def graph_bytes(path: Path) -> int:
    """The bytes of an .onnx file and of the external data files its tensors name."""
    files = {path} | {path.parent / name for name in data_files_named(path)}
    return sum(f.stat().st_size for f in files)


def quantize_onnx_encoder(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """The int8 encoder of an exported fp32 encoder file (its metadata kept, precision int8),
    written to `path`: what export_onnx_encoder(int8=True) writes, without tracing again.
    onnxruntime's quantizer writes a shape-inferred copy beside `source` while it runs."""
    import onnx

    source, path = Path(source), Path(path)
    onnx_quantization()
    props = onnx.load(str(source), load_external_data=False).metadata_props
    metadata = {entry.key: entry.value for entry in props} | {"precision": "int8"}
    with write_errors(path), tempfile.TemporaryDirectory(
        dir=path.parent, prefix=f".{path.name}."
    ) as tmp:
        quantized = quantize_int8(source, Path(tmp) / "int8" / "encoder.onnx")
        save_with_metadata(quantized, path, metadata)
    return path


def save_with_metadata(traced: Path, path: Path, metadata: dict[str, str]) -> None:
    """Set the metadata and write the model to `path`: one file, or, over the protobuf limit, the
    graph plus one `<name>.data` file of weights (place_graph: the graph at `path` and the data
    it names match at every instant; a full disk is DiskFullError)."""
    import onnx

    large = sum(f.stat().st_size for f in traced.parent.iterdir()) > PROTOBUF_LIMIT
    proto = onnx.load(str(traced))  # reads any external data written beside it
    # onnx.infer: the quantizer's note that it ran shape inference, not ours to keep
    kept = [e for e in proto.metadata_props if e.key not in metadata and e.key != "onnx.infer"]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    staged = traced.parent / "staged"
    staged.mkdir()
    graph = staged / path.name
    data_name = f"{path.name}.data"
    onnx.save_model(
        proto,
        str(graph),
        save_as_external_data=large,
        all_tensors_to_one_file=True,
        location=data_name,
    )
    place_graph(graph, path)


def place_graph(staged: Path, path: Path) -> None:
    """Move the graph `staged` (with its `<name>.data` beside it if it has one) to `path`, so that
    the graph at `path` and the data file it names match at every instant: a signal or crash
    leaves the earlier graph or the new one, each with its own weights.

    A data file is only replaced or removed while no graph at `path` names it: the new data goes
    under a name the earlier graph does not use, `<name>.data` or, when the earlier graph names
    that, `<name>.new.data` (a graph naming it is renamed in first, then `<name>.data` is made a
    second name of the new data, the graph naming `<name>.data` renamed in, `<name>.new.data`
    removed)."""
    data, spare = path.with_name(f"{path.name}.data"), path.with_name(f"{path.name}.new.data")
    new_data = staged.with_name(data.name)
    earlier = data_files_named(path) if data.exists() or spare.exists() else set()
    if not new_data.exists():  # one self-contained file
        _replace_graph(staged, path)
    elif data.name not in earlier:
        os.replace(new_data, data)
        _replace_graph(staged, path)
    else:
        via_spare = _with_data_file(staged, spare.name)
        os.replace(new_data, spare)
        try:
            _replace_graph(via_spare, path)
        except BaseException:
            if spare.name not in data_files_named(path):
                spare.unlink(missing_ok=True)
            raise
        data.unlink(missing_ok=True)  # named by no graph at `path` now
        _link_or_copy(spare, data)
        _replace_graph(staged, path)
    for name in {data.name, spare.name} - data_files_named(path):
        path.with_name(name).unlink(missing_ok=True)  # stale: named by the graph no more


def _replace_graph(graph: Path, path: Path) -> None:
    atomic_write(path, lambda tmp: os.replace(graph, tmp))


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def data_files_named(path: Path) -> set[str]:
    """The external data files (relative to the graph's folder) an .onnx file's tensors name;
    none for a file that is not there or not a graph."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError):
        return set()
    return {
        entry.value
        for tensor in _tensors(proto.graph)
        for entry in tensor.external_data
        if entry.key == "location"
    }


def _with_data_file(graph: Path, name: str) -> Path:
    """A copy of the graph file `graph` (written beside it) whose tensors name the data file
    `name` instead (same offsets)."""
    import onnx

    proto = onnx.load(str(graph), load_external_data=False)
    for tensor in _tensors(proto.graph):
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = name
    copy_path = graph.with_name(f"{name}.onnx")
    onnx.save_model(proto, str(copy_path))  # no raw data loaded: writes the graph only
    return copy_path


def _tensors(graph):
    """Every tensor of an ONNX graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def onnx_session(path: str | os.PathLike):
    """An onnxruntime CPU session for an exported graph."""
    try:
        import onnxruntime
    except ImportError as err:
        raise RuntimeError(
            "checking the ONNX export needs onnxruntime: pip install -e '.[onnx]' (or skip the "
            "check with verify=False / --no-verify)"
        ) from err

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def check_onnx_encoder(
    model: PromptableModel,
    path: str | os.PathLike,
    *,
    fp16: bool = False,
    int8: bool = False,
    tolerance: float | None = None,
) -> float:
    """Run the exported encoder in onnxruntime (CPU) and the fp32 torch model on random images of
    the sizes and batches the graph takes (batch 2 where it is dynamic); raise unless every output
    is within tolerance (FP32_TOLERANCE, or FP16_TOLERANCE / INT8_TOLERANCE for an fp16 / int8
    file) times its largest |value| (OnnxCheckError, one line). Returns the largest difference
    so measured (relative)."""
    default = INT8_TOLERANCE if int8 else FP16_TOLERANCE if fp16 else FP32_TOLERANCE
    tolerance = tolerance or default
    graph = f"the image encoder, {'int8' if int8 else 'fp16' if fp16 else 'fp32'}"
    reference = onnx_encoder(model)
    session = onnx_session(path)
    batch = 2 if reference.dynamic_batch else 1
    worst = 0.0
    for seed, size in enumerate(reference.example_sizes()):
        image = reference.example_image(batch if seed == 0 else 1, seed, size)
        with torch.no_grad():
            expected = [t.numpy() for t in reference(image)]
        got = session.run(list(reference.output_names), {ONNX_IMAGE_INPUT: image.numpy()})
        example = f"input {'x'.join(map(str, image.shape))}"
        worst = max(worst, compare_relative(
            path, graph, reference.output_names, got, expected, tolerance, example
        ))
    return worst
