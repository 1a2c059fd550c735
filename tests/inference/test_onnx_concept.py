"""`--to onnx_concept`: SAM 3's concept path as ONNX graphs. Exported once from the SAM 3
miniature with the detector (export_model checks copies of its graphs), the documented
onnxruntime code, run with torch unimportable, finds ConceptPredictor's instances (scores, boxes,
detector and refined masks) for several prompts on one image encoding; a model without the
detector is refused in one line; the export check fails for another model's weights, and for a
graph three tolerances off on any one of its example inputs (one line from samhq-export, exit
status 3, the graphs removed)."""

import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from samhq_train.cli.export import main as export_main
from samhq_train.clip_tokenizer import PADDING_ID
from samhq_train.errors import CHECK_FAILED_EXIT
from samhq_train.inference import SamHQPredictor, onnx_concept_export
from samhq_train.inference import export as export_module
from samhq_train.inference.concept import EXEMPLAR_ONLY_TEXT, ConceptPredictor
from samhq_train.inference.export import export_model
from samhq_train.inference.onnx_check import OnnxCheckError
from samhq_train.inference.onnx_concept_export import DETECTOR_FILE, TEXT_FILE, check_onnx_concept
from samhq_train.inference.onnx_encoder_export import FP32_TOLERANCE, onnx_session
from samhq_train.model import load_checkpoint
from samhq_train.model.sam3.concept.detector import NoDetectorError
from samhq_train.resizing import resize_antialiased_uint8
from tests.documentation import code_blocks
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

pytest.importorskip("onnxruntime")

IMAGE_SHAPE = (240, 320, 3)
# (text, exemplar boxes in pixels, their labels)
PROMPTS = [
    ("a cat", None, None),
    ("the dog sleeps under the table", None, None),
    ("a cat", [[40, 60, 180, 220], [200, 20, 300, 120]], [1, 0]),
    (None, [[40, 60, 180, 220]], None),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx_concept")
    checkpoint, merges = write_sam3_with_detector(folder)
    model = load_checkpoint(checkpoint).eval()
    # unchecked here: test_the_export_is_checked_and_removed_when_the_check_fails has
    # export_model check these graphs (copied), within 0.3 of the tolerance
    paths = export_model(model, folder / "out", ["onnx_concept"], verify=False)
    return model, merges, paths["onnx_concept"]


def readme_example() -> tuple[str, str]:
    """(the class and its helpers, the usage) of the documentation's concept example."""
    blocks = [code for _, code in code_blocks("python")]
    (code,) = [b for b in blocks if "class OnnxConcept" in b]
    (usage,) = [b for b in blocks if "OnnxConcept(" in b and "class OnnxConcept" not in b]
    return code, usage


def run_readme_example(folder: Path, merges: Path, image: np.ndarray, tmp_path: Path, thresholds):
    """The documented code in a process where torch cannot be imported: its usage as written (on
    our files), then PROMPTS at `thresholds`; returns each prompt's four arrays."""
    code, usage = readme_example()
    Image.fromarray(image).save(tmp_path / "photo.png")
    usage = usage.replace('"exported/sam_hq_sam3_hq_concept"', repr(str(folder)))
    usage = usage.replace('"bpe_simple_vocab_16e6.txt.gz"', repr(str(merges)))
    usage = usage.replace('"photo.jpg"', repr(str(tmp_path / "photo.png")))
    calls = [
        f"found.append(concept.predict({text!r}, {boxes or ()!r}, {labels!r}, {threshold!r}))"
        for (text, boxes, labels), threshold in zip(PROMPTS, thresholds)
    ]
    script = "\n".join([
        "import sys",
        "sys.modules['torch'] = None  # unimportable",
        code,
        usage,
        "found = []",
        *calls,
        "np.savez(sys.argv[1], **{f'{i}_{j}': a for i, f in enumerate(found) for j, a in "
        "enumerate(f)})",
    ])
    (tmp_path / "example.py").write_text(script)
    result = tmp_path / "result.npz"
    run = subprocess.run(
        [sys.executable, str(tmp_path / "example.py"), str(result)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = np.load(result)
    return [[got[f"{i}_{j}"] for j in range(4)] for i in range(len(PROMPTS))]


def test_readme_example_finds_concept_predictors_instances(exported, tmp_path):
    model, merges, folder = exported
    image = np.random.default_rng(5).integers(0, 256, IMAGE_SHAPE, dtype=np.uint8)
    predictor = ConceptPredictor(model, merges, threshold=0.0)
    predictor.set_image(image)
    wanted, thresholds = [], []
    for text, boxes, labels in PROMPTS:
        every = predictor.predict(text, exemplar_boxes=boxes, exemplar_labels=labels, refine=False)
        threshold = float(np.median(every.scores))  # about half the queries kept
        thresholds.append(threshold)
        wanted.append(predictor.predict(
            text, exemplar_boxes=boxes, exemplar_labels=labels, threshold=threshold, use_hq=True
        ))
    got = run_readme_example(folder, merges, image, tmp_path, thresholds)
    diffs = []  # per prompt: scores, boxes (pixels), detector / refined mask pixels that differ
    for want, (scores, boxes, detector_masks, masks) in zip(wanted, got):
        assert len(want) == len(scores) >= 3
        assert detector_masks.shape == masks.shape == want.masks.shape
        assert want.masks.any() and want.detector_masks.any()
        diffs.append((
            float(np.abs(scores - want.scores).max()),
            float(np.abs(boxes - want.boxes).max()),
            int((detector_masks != want.detector_masks).sum()),
            int((masks != want.masks).sum()),
        ))
    worst = np.max(diffs, axis=0)
    print(f"onnxruntime vs ConceptPredictor, worst of {len(PROMPTS)} prompts: scores "
          f"{worst[0]:.2e}, boxes {worst[1]:.2e} px, mask pixels {worst[2]:.0f} / {worst[3]:.0f}")
    pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    assert worst[0] <= 2e-6 and worst[1] <= 2e-4
    assert worst[2] <= 1e-4 * pixels and worst[3] <= 1e-4 * pixels


def test_the_metadata_hold_concept_predictors_defaults(exported):
    """What the documented runtime reads when a call leaves them out: the threshold and hole area
    ConceptPredictor uses by default (Meta's 0.5; SAM 3's image predictor's 256)."""
    model, _, folder = exported
    want = {
        "threshold": inspect.signature(ConceptPredictor).parameters["threshold"].default,
        "fill_hole_area": SamHQPredictor(model).fill_hole_area,
        "exemplar_only_text": EXEMPLAR_ONLY_TEXT,
    }
    for name in (TEXT_FILE, DETECTOR_FILE):
        meta = onnx_session(folder / name).get_modelmeta().custom_metadata_map
        assert {key: type(value)(meta[key]) for key, value in want.items()} == want
    assert want["fill_hole_area"] == 256


def test_model_without_detector_is_refused_in_one_line(exported, tmp_path, capsys):
    checkpoint, _ = write_sam3_with_detector(tmp_path, with_detector=False)
    with pytest.raises(NoDetectorError, match="no concept detector"):
        export_model(load_checkpoint(checkpoint), tmp_path / "out", ["onnx_concept"])
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as stop:
        export_main(["--checkpoint", str(checkpoint), "--to", "onnx_concept", "--out",
                     str(tmp_path)])
    assert stop.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no concept detector" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bpe_simple_vocab_16e6.txt.gz",
                                                          "sam3_interactive.pt"]


def test_the_check_fails_for_another_models_weights(exported, tmp_path):
    _, _, folder = exported
    other, _ = write_sam3_with_detector(tmp_path, seed=7)
    with pytest.raises(RuntimeError, match="differs from torch"):
        check_onnx_concept(load_checkpoint(other).eval(), folder)
    assert (folder / DETECTOR_FILE).is_file()


@pytest.mark.parametrize("shape, size", [((150, 200), 224), ((768, 1024), 1008), ((100, 60), 224)])
def test_numpy_uint8_resize_is_torchs_bit_for_bit(shape, size):
    """The documented code's resize (no torch) gives the pixels ConceptPredictor.set_image feeds."""
    image = np.random.default_rng(size).integers(0, 256, (*shape, 3), dtype=np.uint8)
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None]
    want = F.interpolate(pixels, (size, size), mode="bilinear", antialias=True)[0].permute(1, 2, 0)
    assert np.array_equal(resize_antialiased_uint8(image, (size, size)), want.numpy())


class SkewedSession:
    """An exported graph's session whose float outputs, for the batch rows that `rows(feed)`
    picks, are moved by `skew` times the output's largest |value|: a graph that differs from
    torch by that much, on those inputs only."""

    def __init__(self, path, graph: str, skew: float, rows):
        self.session, self.skewed = onnx_session(path), Path(path).name == graph
        self.skew, self.rows = skew, rows

    def run(self, names, feed):
        out = self.session.run(names, feed)
        if not self.skewed:
            return out
        picked = self.rows(feed)
        for value in out:
            if value.dtype == np.float32:
                value[picked] += self.skew * np.abs(value).max()
        return out


def skew_graph(monkeypatch, graph: str, skew: float, rows=lambda feed: slice(None)):
    monkeypatch.setattr(
        onnx_concept_export, "onnx_session", lambda path: SkewedSession(path, graph, skew, rows)
    )


# what the check must exercise: each example input of the text encoder and the detector
SKEWED_INPUTS = {
    "text filling the context": (TEXT_FILE, lambda feed: (feed["token_ids"] != PADDING_ID).all(1)),
    "short text": (TEXT_FILE, lambda feed: (feed["token_ids"] == PADDING_ID).any(1)),
    "text prompt alone": (DETECTOR_FILE, lambda feed: [feed["exemplar_boxes"].shape[1] == 0]),
    "exemplar boxes": (DETECTOR_FILE, lambda feed: [feed["exemplar_boxes"].shape[1] > 0]),
}


@pytest.mark.parametrize("inputs", SKEWED_INPUTS)
def test_the_check_refuses_a_graph_three_tolerances_off_on_one_example(
    exported, inputs, monkeypatch
):
    """The export's check compares within 1e-4 of each output's largest |value| (refusing 3e-4),
    on texts of both kinds and with and without exemplar boxes."""
    model, _, folder = exported
    graph, rows = SKEWED_INPUTS[inputs]
    skew_graph(monkeypatch, graph, 3 * FP32_TOLERANCE, rows)
    with pytest.raises(RuntimeError) as err:
        check_onnx_concept(model, folder)
    message = str(err.value)
    assert "\n" not in message and f"{graph} (the " in message
    assert re.search(r"onnxruntime's \w+ differs from torch by 0\.000[23]\d* of its largest "
                     r"\|value\| \(tolerance 0\.0001; ", message), message


def copy_exported_graphs(monkeypatch, folder: Path) -> None:
    """export_model writes the fixture's graphs (copied) instead of tracing them again."""
    def copy(model, path, opset):
        return shutil.copytree(folder, path, dirs_exist_ok=True)

    monkeypatch.setattr(export_module, "export_onnx_concept", copy)
    monkeypatch.setattr(export_module, "export_onnx", lambda model, path, opset: path)


def test_the_export_is_checked_and_removed_when_the_check_fails(exported, tmp_path, monkeypatch):
    """export_model checks what it wrote (here the fixture's graphs, copied, read with the
    detector off by a part of its tolerance: written; by three tolerances: refused, no folder)."""
    model, _, folder = exported
    copy_exported_graphs(monkeypatch, folder)
    assert FP32_TOLERANCE == 1e-4  # the documentation's figure
    skew_graph(monkeypatch, DETECTOR_FILE, 0.3 * FP32_TOLERANCE)
    written = export_model(model, tmp_path / "within", ["onnx_concept"])
    assert (written["onnx_concept"] / DETECTOR_FILE).is_file()
    skew_graph(monkeypatch, DETECTOR_FILE, 3 * FP32_TOLERANCE)
    with pytest.raises(OnnxCheckError, match="detector.onnx \\(the concept detector\\): "
                                             r"onnxruntime's \w+ differs"):
        export_model(model, tmp_path / "off", ["onnx_concept"])
    assert not (tmp_path / "off").exists()


def test_a_failed_check_is_one_line_from_samhq_export(exported, tmp_path, monkeypatch, capsys):
    """samhq-export --overwrite into a folder that holds an earlier export and a file of the
    user's: a detector three tolerances off is one line (graph, output, difference, tolerance,
    example input, what became of the files), exit status 3; the export's graphs are removed,
    the user's file stays."""
    model, _, folder = exported
    copy_exported_graphs(monkeypatch, folder)
    skew_graph(monkeypatch, DETECTOR_FILE, 3 * FP32_TOLERANCE)
    out = tmp_path / "out"
    target = out / "sam_hq_sam3_hq_demo_concept"
    shutil.copytree(folder, target)
    (target / "notes.txt").write_text("mine")
    checkpoint = folder.parents[1] / "sam3.pt"  # the fixture's
    with pytest.raises(SystemExit) as stop:
        export_main(["--checkpoint", str(checkpoint), "--to", "onnx_concept", "--out", str(out),
                     "--overwrite"])
    assert stop.value.code == CHECK_FAILED_EXIT == 3
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("note: "), lines  # Meta's SAM 3: no HQ parts
    assert re.fullmatch(
        re.escape(f"error: ONNX check failed: {target / DETECTOR_FILE} (the concept detector): "
                  "onnxruntime's ") + r"\w+ differs from torch by 0\.000[23]\d* of its largest "
        r"\|value\| \(tolerance 0\.0001; a text and 0 exemplar boxes\); "
        + re.escape(f"{target} removed (a failed export keeps none of its new files): export "
                    "with --no-verify (verify=False) to keep it for inspection, or try another "
                    "--onnx-opset"),
        lines[1],
    ), lines[1]
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
