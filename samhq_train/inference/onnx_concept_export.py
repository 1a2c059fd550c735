"""Write and check the concept path's ONNX graphs (model/sam3/concept/onnx.py) for
`samhq-export --to onnx_concept`: with the SAM 3 prompt decoder graph
(onnx_decoder_export.export_onnx, written beside them by export.py) and the pure-Python
tokenizer (samhq_train.clip_tokenizer), onnxruntime alone answers text and exemplar prompts as
ConceptPredictor does.

The folder holds encoder.onnx (once per image), text_encoder.onnx (once per text), detector.onnx
(once per image and prompt) and decoder.onnx (once per kept box); their metadata carry what a
runtime needs (the input rule, the tokenizer's sizes, the exemplar-only text, the threshold and
the hole filling of the refinement). Graphs over 2 GB keep their weights in `<file>.data`."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch

from samhq_train.clip_tokenizer import PADDING_ID
from samhq_train.compat import onnx_torchscript_exporter
from samhq_train.files import write_errors
from samhq_train.model.onnx_encoder import ONNX_IMAGE_INPUT
from samhq_train.model.registry import family_of_model
from samhq_train.model.sam3.concept.detector import ConceptDetector, concept_detector
from samhq_train.model.sam3.concept.onnx import (
    DETECTOR_OUTPUTS,
    TEXT_INPUTS,
    TEXT_OUTPUTS,
    ConceptOnnxDetector,
    ConceptOnnxEncoder,
    ConceptOnnxText,
)

from .concept import EXEMPLAR_ONLY_TEXT
from .onnx_check import compare_relative
from .onnx_encoder_export import (
    FP32_TOLERANCE,
    encoder_metadata,
    on_cpu,
    onnx_session,
    save_with_metadata,
)

# the folder's files (export.py writes DECODER_FILE with onnx_decoder_export.export_onnx)
ENCODER_FILE = "encoder.onnx"
TEXT_FILE = "text_encoder.onnx"
DETECTOR_FILE = "detector.onnx"
DECODER_FILE = "decoder.onnx"
DEFAULT_THRESHOLD = 0.5  # ConceptPredictor's (Meta's)


def concept_graphs(model) -> tuple[ConceptOnnxEncoder, ConceptOnnxText, ConceptOnnxDetector]:
    """The three wrappers on an fp32 CPU model (a copy if it is not one), in eval mode;
    NoDetectorError (one line) for a model without the concept detector."""
    concept_detector(model)  # refused before any copy
    model = on_cpu(model)
    detector = concept_detector(model)
    return (
        ConceptOnnxEncoder(model, detector).eval(),
        ConceptOnnxText(detector).eval(),
        ConceptOnnxDetector(detector).eval(),
    )


GRAPH_FILES = (ENCODER_FILE, TEXT_FILE, DETECTOR_FILE)


def export_onnx_concept(
    model, folder: str | os.PathLike, *, opset: int = 17, graphs: tuple[str, ...] = GRAPH_FILES
) -> Path:
    """Write encoder.onnx, text_encoder.onnx and detector.onnx of `model` (those of them named
    in `graphs`) into `folder`."""
    # imported before tracing (the geometry encoder imports it lazily, which a trace cannot)
    import torchvision.ops  # noqa: F401

    encoder, text, detector = concept_graphs(model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image, tokens = encoder.example_image(), example_tokens(detector.detector)
    with torch.no_grad():
        levels = encoder(image)[-detector.detector.levels :]
        features, padding = text(tokens[:1])
    meta = concept_metadata(encoder.model, detector.detector)
    if ENCODER_FILE in graphs:
        _write(encoder, (image,), folder / ENCODER_FILE, opset, [ONNX_IMAGE_INPUT],
               encoder.output_names, encoder.dynamic_axes, encoder_metadata(encoder.model, "fp32"))
    if TEXT_FILE in graphs:
        _write(text, (tokens,), folder / TEXT_FILE, opset, TEXT_INPUTS, TEXT_OUTPUTS,
               {name: {0: "texts"} for name in (*TEXT_INPUTS, *TEXT_OUTPUTS)}, meta)
    if DETECTOR_FILE in graphs:
        boxes, labels = detector.example_exemplars(2)
        _write(detector, (*levels, features, padding, boxes, labels), folder / DETECTOR_FILE,
               opset, detector.input_names, DETECTOR_OUTPUTS,
               {"exemplar_boxes": {1: "exemplars"}, "exemplar_labels": {1: "exemplars"}}, meta)
    return folder


def concept_metadata(model, detector: ConceptDetector) -> dict[str, str]:
    """What the text and detector files tell a runtime (metadata_props)."""
    return {
        "family": "sam3",
        "image_size": str(model.image_size),
        "context_length": str(detector.context_length),
        "vocab_size": str(detector.cfg.vocab_size),
        "exemplar_only_text": EXEMPLAR_ONLY_TEXT,  # the text of a prompt of exemplars alone
        "threshold": str(DEFAULT_THRESHOLD),
        # of the refinement's low-res logits, as the family's image predictor fills them
        "fill_hole_area": str(family_of_model(model).image_fill_hole_area),
    }


def _write(module, args, path: Path, opset, input_names, output_names, axes, metadata) -> None:
    # torch.onnx writes the graph itself: a full disk there is write_errors' line, naming `path`
    with write_errors(path), tempfile.TemporaryDirectory(
        dir=path.parent, prefix=f".{path.name}."
    ) as tmp:
        traced = Path(tmp) / "graph.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # shapes fixed at trace time are those the graph takes (checked: check_onnx_concept)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
            warnings.filterwarnings("ignore", ".*sampling_ratio", UserWarning)
            torch.onnx.export(
                module,
                tuple(args),
                str(traced),
                **onnx_torchscript_exporter(),  # the dynamo exporter needs onnxscript
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
            )
        save_with_metadata(traced, path, metadata)


def example_tokens(detector: ConceptDetector, seed: int = 0) -> torch.Tensor:
    """2 x L token ids as the tokenizer lays them out (start, ids, end, padding), two lengths."""
    gen = torch.Generator().manual_seed(seed)
    vocab, length = detector.cfg.vocab_size, detector.context_length
    start, end = vocab - 2, vocab - 1  # the tokenizer's last two ids
    tokens = torch.full((2, length), PADDING_ID, dtype=torch.long)
    for row, count in enumerate((3, length - 2)):
        ids = torch.randint(1, start, (count,), generator=gen).tolist()
        tokens[row, : count + 2] = torch.tensor([start, *ids, end])
    return tokens


def check_onnx_concept(model, folder: str | os.PathLike, tolerance: float = FP32_TOLERANCE):
    """Run the three graphs in onnxruntime (CPU) against torch: the encoder on a random image, the
    text encoder on two texts of different lengths, the detector on torch's levels and text
    features with 0 and 2 exemplar boxes. OnnxCheckError (one line) unless every output is within
    tolerance of its largest |value| (padding equal). Returns the largest relative difference."""
    encoder, text, detector = concept_graphs(model)
    folder = Path(folder)
    image, tokens = encoder.example_image(seed=1), example_tokens(detector.detector, seed=1)
    with torch.no_grad():
        image_out = encoder(image)
        text_out = text(tokens)
    worst = _compare(folder / ENCODER_FILE, "the concept image encoder", encoder.output_names,
                     {ONNX_IMAGE_INPUT: image}, image_out, tolerance, "a random image")
    worst = max(worst, _compare(folder / TEXT_FILE, "the text encoder", TEXT_OUTPUTS,
                                {"token_ids": tokens}, text_out, tolerance, "two texts"))
    levels = image_out[-detector.detector.levels :]
    for count in (0, 2):
        inputs = (*levels, text_out[0][1:], text_out[1][1:], *detector.example_exemplars(count, 1))
        with torch.no_grad():
            expected = detector(*inputs)
        feed = dict(zip(detector.input_names, inputs))
        worst = max(worst, _compare(folder / DETECTOR_FILE, "the concept detector",
                                    DETECTOR_OUTPUTS, feed, expected, tolerance,
                                    f"a text and {count} exemplar boxes"))
    return worst


def _compare(path: Path, graph: str, names, feed: dict, expected, tolerance: float,
             example: str) -> float:
    got = onnx_session(path).run(list(names), {k: v.numpy() for k, v in feed.items()})
    want = [value.numpy() for value in expected]
    return compare_relative(path, graph, names, got, want, tolerance, example)
