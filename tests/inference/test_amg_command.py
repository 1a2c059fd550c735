"""The amg command (samhq_train.inference.amg_command, scripts/amg.py) and the AMG benchmark script:
COCO-style JSON and overlays equal to the generator's masks, one error line for bad input."""

import json
from pathlib import Path

import cv2
import pytest
import torch

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference import AutomaticMaskGenerator
from samhq_train.inference.amg_command import main as amg_main
from samhq_train.model import load_checkpoint
from tests.script_modules import run_script_here

from .amg_reference import disc_image

ROOT = Path(__file__).resolve().parents[2]
DEMO_BASE = ROOT / "data" / "demo_base" / "vit_demo_base.safetensors"


@pytest.fixture(scope="module")
def image():
    return disc_image()


def demo_base_masks(image, **options) -> list[dict]:
    """The generator's COCO RLE masks for the demo base as plain SAM (what the command runs):
    4 x 4 points, no predicted-IoU cut, `options` as the command's flags set them."""
    generator = AutomaticMaskGenerator(
        load_checkpoint(DEMO_BASE),
        points_per_side=4,
        pred_iou_thresh=0.0,
        output_mode="coco_rle",
        use_hq=False,
        multimask_output=False,
        **options,
    )
    return generator.generate(image)


def test_amg_command_writes_coco_json_and_an_overlay(tmp_path, image, capsys):
    cv2.imwrite(str(tmp_path / "discs.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    argv = [
        "--image",
        str(tmp_path / "discs.png"),
        "--out",
        str(out),
        "--points-per-side",
        "4",
        "--pred-iou-thresh",
        "0",
        "--stability-score-thresh",
        "0.5",
    ]
    assert amg_main(argv) == 0
    coco = json.loads((out / "discs.json").read_text())
    assert coco["images"][0] == {"id": 1, "file_name": "discs.png", "height": 192, "width": 256}
    annotations = coco["annotations"]
    assert annotations and {a["image_id"] for a in annotations} == {1}
    # the demo base runs as plain SAM: the same masks as the generator
    expected = demo_base_masks(image, stability_score_thresh=0.5)
    assert [a["segmentation"] for a in annotations] == [r["segmentation"] for r in expected]
    overlay = cv2.imread(str(out / "discs_overlay.png"))
    assert overlay.shape == (192, 256, 3) and (overlay != image[..., ::-1]).any()
    assert amg_main(argv + ["--output-mode", "binary_mask", "--overwrite"]) == 0
    first = json.loads((out / "discs.json").read_text())["annotations"][0]["segmentation"]
    assert cv2.imread(str(out / first), cv2.IMREAD_GRAYSCALE).shape == (192, 256)


def test_amg_command_bf16_on_the_cpu(tmp_path, image):
    """--bf16 runs the generator under bfloat16 autocast on the CPU: the generator's bf16 masks."""
    cv2.imwrite(str(tmp_path / "discs.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    options = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--box-nms-thresh", "1"]
    argv = ["--image", str(tmp_path / "discs.png"), "--device", "cpu", "--bf16", *options]
    assert amg_main(argv + ["--stability-score-thresh", "0", "--out", str(tmp_path / "out")]) == 0
    annotations = json.loads((tmp_path / "out" / "discs.json").read_text())["annotations"]
    expected = demo_base_masks(
        image, stability_score_thresh=0.0, box_nms_thresh=1.0, amp_dtype=torch.bfloat16
    )
    assert len(annotations) == 16
    assert [a["segmentation"] for a in annotations] == [r["segmentation"] for r in expected]
    assert [a["predicted_iou"] for a in annotations] == [r["predicted_iou"] for r in expected]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--image", "missing.png"], "--image missing.png: file not found"),
        (["--images", "nowhere"], "--images nowhere: folder not found"),
        (["--image", "{bad}"], "is not a readable image"),
        (["--image", "{img}", "--checkpoint", "{bad}"], "bad.png"),
        (["--image", "{img}", "--points-per-side", "0"], "--points-per-side must be in [1, 256]"),
    ],
)
def test_amg_command_bad_input_is_one_error_line(tmp_path, image, capsys, args, message):
    cv2.imwrite(str(tmp_path / "img.png"), image)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    args = [a.format(bad=tmp_path / "bad.png", img=tmp_path / "img.png") for a in args]
    with pytest.raises(SystemExit) as exit_info:
        amg_main(args + ["--out", str(tmp_path / "out")])
    assert exit_info.value.code == SETUP_ERROR_EXIT
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_amg_and_benchmark_scripts_run(tmp_path, image, capsys, monkeypatch):
    cv2.imwrite(str(tmp_path / "discs.png"), image)
    run_script_here("amg", "--image", str(tmp_path / "discs.png"), "--out", str(tmp_path / "out"),
                    "--points-per-side", "2", "--device", "cpu", capsys=capsys,
                    monkeypatch=monkeypatch)
    assert (tmp_path / "out" / "discs_overlay.png").is_file()
    out = run_script_here("benchmark_amg", "--points-per-side", "2", "--size", "64", "80",
                          "--overlay", str(tmp_path / "bench.png"), capsys=capsys,
                          monkeypatch=monkeypatch)
    assert "masks in" in out and "peak RSS" in out, out
    assert cv2.imread(str(tmp_path / "bench.png")).shape == (64, 80, 3)


def test_an_empty_checkpoint_is_named_once(tmp_path, image, capsys):
    cv2.imwrite(str(tmp_path / "img.png"), image)
    empty = tmp_path / "epoch_3.pth"
    empty.write_bytes(b"")
    argv = ["--image", str(tmp_path / "img.png"), "--checkpoint", str(empty)]
    with pytest.raises(SystemExit) as exit_info:
        amg_main(argv + ["--out", str(tmp_path / "out")])
    assert exit_info.value.code == SETUP_ERROR_EXIT
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line]
    assert line.count(str(empty)) == 1 and "empty" in line, line
