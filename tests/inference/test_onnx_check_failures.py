"""A graph that fails its export check (onnxruntime against torch) is one line from samhq-export:
the file, the graph, the output furthest beyond the tolerance with its largest difference, the
tolerance, that the file was removed and what to do; exit status 3 (not a setup error's 2). The
file is removed, also where it replaced an earlier one (--overwrite), and so are the export's other
new files. (The concept folder's check: test_onnx_concept.py.)"""

import re

import numpy as np
import pytest

from samhq_train.cli.export import main as export_main
from samhq_train.errors import CHECK_FAILED_EXIT
from samhq_train.inference import onnx_decoder_export
from samhq_train.inference import onnx_encoder_export as encoder_export
from samhq_train.model import save_checkpoint
from tests.reference import random_tiny_model

pytest.importorskip("onnxruntime")

REMOVED = (
    "{path} removed (a failed export keeps none of its new files): export with --no-verify "
    "(verify=False) to keep it for inspection, or try another --onnx-opset"
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    return save_checkpoint(random_tiny_model(seed=4), path, "safetensors")


def failed_export(argv, capsys) -> str:
    """samhq-export's one stderr line for `argv`, which must exit with CHECK_FAILED_EXIT."""
    with pytest.raises(SystemExit) as stop:
        export_main(argv)
    assert stop.value.code == CHECK_FAILED_EXIT == 3
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_decoder_off_beyond_its_tolerance_is_one_line_and_removed(
    checkpoint, tmp_path, monkeypatch, capsys
):
    """iou_predictions 1e-2 off and low_res_masks 3e-4 off (both beyond 1e-4 + 1e-4 |torch|
    where the logits are below 2): the line names iou_predictions, the furthest beyond; the
    decoder file the export replaced (--overwrite) and the .pth it wrote first are removed."""
    run_onnx = onnx_decoder_export.run_onnx

    def skewed(session, inputs):
        out = run_onnx(session, inputs)
        names = list(onnx_decoder_export.ONNX_OUTPUTS)
        out[names.index("iou_predictions")] += 1e-2
        out[names.index("low_res_masks")] += 3e-4
        return out

    monkeypatch.setattr(onnx_decoder_export, "run_onnx", skewed)
    out = tmp_path / "out"
    out.mkdir()
    decoder = out / "sam_hq_vit_demo_decoder.onnx"
    decoder.write_bytes(b"an earlier export")
    argv = ["--checkpoint", str(checkpoint), "--to", "sam_hq", "onnx", "--out", str(out)]
    line = failed_export([*argv, "--overwrite"], capsys)
    head = (
        f"error: ONNX check failed: {decoder} (the prompt decoder): onnxruntime's "
        "iou_predictions differs from torch by up to "
    )
    assert line.startswith(head), line
    assert re.fullmatch(r"0\.01\d* \(tolerance 0\.0001 \+ 0\.0001 x \|torch\|; 1 point, without "
                        r"a mask input\); ", line[len(head):-len(REMOVED.format(path=decoder))])
    assert line.endswith(REMOVED.format(path=decoder))
    assert list(out.iterdir()) == []  # neither the replaced decoder nor the new .pth is left


class SkewedSession:
    """An onnxruntime session whose outputs named in `skews` are moved by that fraction of their
    largest |value|."""

    def __init__(self, session, skews: dict[str, float]):
        self.session, self.skews = session, skews

    def run(self, names, feed):
        out = self.session.run(names, feed)
        for name, value in zip(names, out):
            value += self.skews.get(name, 0.0) * np.abs(value).max()
        return out


def test_an_encoder_off_beyond_its_tolerance_is_one_line_and_removed(
    checkpoint, tmp_path, monkeypatch, capsys
):
    """image_embeddings 3e-4 and early_features 2e-4 of their largest |value| off (fp32
    tolerance 1e-4): the line names image_embeddings, the further off, and the first input."""
    session = encoder_export.onnx_session
    skews = {"image_embeddings": 3e-4, "early_features": 2e-4}
    monkeypatch.setattr(
        encoder_export, "onnx_session", lambda path: SkewedSession(session(path), skews)
    )
    out = tmp_path / "out"
    line = failed_export(
        ["--checkpoint", str(checkpoint), "--to", "onnx_encoder", "--out", str(out)], capsys
    )
    encoder = out / "sam_hq_vit_demo_encoder.onnx"
    head = (
        f"error: ONNX check failed: {encoder} (the image encoder, fp32): onnxruntime's "
        "image_embeddings differs from torch by "
    )
    assert line.startswith(head) and line.endswith(REMOVED.format(path=encoder)), line
    middle = line[len(head):-len(REMOVED.format(path=encoder))]
    assert re.fullmatch(r"0\.000[23]\d* of its largest \|value\| \(tolerance 0\.0001; input "
                        r"2x3x\d+x\d+\); ", middle), middle
    assert not out.exists()  # the folder the export made is gone with the file


def test_a_nan_output_fails_the_check(checkpoint, tmp_path, monkeypatch, capsys):
    """A NaN compares false with any tolerance: the check must not pass it."""
    session = encoder_export.onnx_session
    monkeypatch.setattr(encoder_export, "onnx_session",
                        lambda path: SkewedSession(session(path), {"image_embeddings": np.nan}))
    line = failed_export(["--checkpoint", str(checkpoint), "--to", "onnx_encoder", "--out",
                          str(tmp_path / "out")], capsys)
    assert "onnxruntime's image_embeddings differs from torch by nan of its largest" in line
