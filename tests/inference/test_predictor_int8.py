"""int8 through the user-facing layers: SamHQPredictor(int8=True) runs the encoder's int8 linear
layers for set_image only (bf16 autocast implied; SAM 1, SAM 3, SAM 2.1), masks close to fp32's;
refusals for TinyViT, other devices, dtypes, builds; samhq-predict --int8 writes masks and
refuses in one line."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.errors import SETUP_ERROR_EXIT, UserError
from samhq_train.inference import SamHQPredictor
from samhq_train.inference.predictor import Int8Unsupported
from samhq_train.model import build_sam_hq, cpu_int8, save_checkpoint
from samhq_train.model.sam1 import cpu_blocks
from tests.inference.predict_runs import run

needs_int8 = pytest.mark.skipif(not cpu_int8.available(), reason="no oneDNN int8 linear")


@pytest.fixture(scope="module")
def model():
    return build_sam_hq("vit_demo", seed=0).eval()


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (60, 80, 3), dtype=np.uint8)


@needs_int8
def test_int8_predictor_runs_the_int8_encoder_and_stays_close(model, monkeypatch):
    runs = []
    run_blocks = cpu_blocks.run_blocks
    monkeypatch.setattr(cpu_blocks, "run_blocks", lambda *a: runs.append(a[-1]) or run_blocks(*a))
    box = np.array([10, 8, 60, 50])
    results = {}
    for name, kwargs in {
        "fp32": {},
        "bf16": {"amp_dtype": torch.bfloat16},
        "int8": {"int8": True},
    }.items():
        predictor = SamHQPredictor(model, **kwargs)
        predictor.set_image(image())
        results[name] = (predictor.features, predictor.predict(box=box, return_logits=True)[0])
    assert runs == [False, True]  # bf16 then int8 ran the CPU blocks; fp32 the plain ones
    assert model.image_encoder.int8 is False  # set for set_image only
    embedding = {name: r[0].embedding.float() for name, r in results.items()}
    assert not torch.equal(embedding["int8"], embedding["bf16"])
    scale = embedding["fp32"].abs().max()
    assert (embedding["int8"] - embedding["fp32"]).abs().max() < 0.1 * scale
    fp32_mask, int8_mask = results["fp32"][1] > 0, results["int8"][1] > 0
    iou = (fp32_mask & int8_mask).sum() / max((fp32_mask | int8_mask).sum(), 1)
    assert iou > 0.9


@needs_int8
@pytest.mark.parametrize("variant", ["sam3_hq_demo", "sam2.1_hq_hiera_demo"])
def test_int8_predictor_of_sam3_and_sam2_runs_their_int8_encoder(variant):
    family_model = build_sam_hq(variant, seed=0).eval()
    fp32 = SamHQPredictor(family_model)
    fp32.set_image(image())
    int8 = SamHQPredictor(family_model, int8=True)
    int8.set_image(image())
    assert family_model.image_encoder.int8 is False  # set for set_image only
    qkv = family_model.image_encoder.trunk.blocks[0].attn.qkv
    assert qkv in cpu_int8._packed  # the int8 GEMMs ran
    want, got = fp32.features.embedding, int8.features.embedding.float()
    assert (got - want).abs().max() < 0.25 * want.abs().max()  # tests/model/test_encoders_int8
    box = np.array([10, 8, 60, 50])
    fp32_mask, int8_mask = (p.predict(box=box, return_logits=True)[0] > 0 for p in (fp32, int8))
    iou = (fp32_mask & int8_mask).sum() / max((fp32_mask | int8_mask).sum(), 1)
    assert iou > 0.9


@pytest.mark.parametrize("variant, has_int8", [
    ("vit_b", True), ("vit_tiny", False), ("sam2.1_hq_hiera_l", True), ("sam3_hq", True),
])
def test_int8_variant_check_says_what_the_built_encoder_has(variant, has_int8):
    """The command's check (the family record, no model built) against the encoder built on
    the meta device. Mutant: a family record answering for a config its build disagrees with."""
    from samhq_train.inference.command_options import has_int8_encoder

    with torch.device("meta"):
        built = cpu_int8.int8_encoder(build_sam_hq(variant)) is not None
    assert has_int8_encoder(variant) is built is has_int8


def test_int8_refusals_are_one_line_user_errors(model, monkeypatch):
    assert issubclass(Int8Unsupported, UserError)
    with pytest.raises(Int8Unsupported, match="implies bfloat16"):
        SamHQPredictor(model, int8=True, amp_dtype=torch.float16)
    tiny = build_sam_hq("vit_tiny", seed=0)
    with pytest.raises(Int8Unsupported, match="TinyViT has no int8 path"):
        SamHQPredictor(tiny, int8=True)
    monkeypatch.setattr(cpu_int8, "available", lambda: False)
    with pytest.raises(Int8Unsupported, match="no oneDNN int8 linear"):
        SamHQPredictor(model, int8=True)
    assert SamHQPredictor(model).int8 is False  # off by default, any build


@needs_int8
def test_int8_warns_in_one_line_on_a_cpu_without_vnni_only(model, monkeypatch):
    monkeypatch.setattr(cpu_int8, "without_vnni", lambda: True)
    with pytest.warns(UserWarning, match="no VNNI") as caught:
        assert SamHQPredictor(model, int8=True).int8 is True
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    monkeypatch.setattr(cpu_int8, "without_vnni", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        SamHQPredictor(model, int8=True)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "cuda:0"], "--int8: runs on the CPU only"),
        (["--device", "cpu", "--variant", "vit_tiny"], "--int8: the image encoder of vit_tiny"),
    ],
)
def test_predict_int8_refusals_before_loading(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    missing = tmp_path / "never_read.pt"
    argv = [tmp_path / "a.png", "--checkpoint", missing, "--box", 1, 1, 5, 5, "--int8", *extra]
    code, _, err = run(argv, capsys, device=None)  # --device in `extra`
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and message in errors[0]  # after argparse's usage


@needs_int8
def test_predict_int8_writes_masks(tmp_path, model, capsys):
    checkpoint = save_checkpoint(model, tmp_path / "tiny.safetensors", "safetensors")
    Image.fromarray(image()).save(tmp_path / "a.png")
    argv = [tmp_path / "a.png", "--checkpoint", checkpoint, "--box", 10, 8, 60, 50,
            "--out", tmp_path / "out", "--int8"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert (tmp_path / "out" / "a_mask.png").is_file()
    assert SETUP_ERROR_EXIT == 2


def test_predict_int8_on_a_tinyvit_file_is_refused_in_one_line_after_loading(tmp_path, capsys):
    checkpoint = save_checkpoint(
        build_sam_hq("vit_tiny", seed=0), tmp_path / "tiny.safetensors", "safetensors"
    )
    Image.fromarray(image()).save(tmp_path / "a.png")
    argv = [tmp_path / "a.png", "--checkpoint", checkpoint, "--box", 10, 8, 60, 50,
            "--out", tmp_path / "out", "--int8"]  # no --variant: detected
    code, _, err = run(argv, capsys)
    lines = [line for line in err.splitlines() if "int8" in line]
    assert code == 2 and len(lines) == 1 and "TinyViT has no int8 path" in lines[0], err
    assert not (tmp_path / "out").exists()


@needs_int8
def test_predict_int8_with_a_sam3_variant_passes_the_check_and_writes_masks(tmp_path, capsys):
    sam3 = build_sam_hq("sam3_hq_demo", seed=0).eval()
    checkpoint = save_checkpoint(sam3, tmp_path / "sam3.safetensors", "safetensors")
    Image.fromarray(image()).save(tmp_path / "a.png")
    argv = [tmp_path / "a.png", "--checkpoint", checkpoint, "--variant", "sam3_hq_demo",
            "--box", 10, 8, 60, 50, "--out", tmp_path / "out", "--int8"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert (tmp_path / "out" / "a_mask.png").is_file()


@needs_int8
def test_amg_int8_on_the_demo_base_is_the_generator_with_the_int8_encoder(tmp_path):
    import json

    from samhq_train.inference import AutomaticMaskGenerator
    from samhq_train.inference.amg_command import DEMO_CHECKPOINT
    from samhq_train.inference.amg_command import main as amg_main
    from samhq_train.model import load_checkpoint

    Image.fromarray(image()).save(tmp_path / "a.png")
    argv = ["--image", tmp_path / "a.png", "--device", "cpu", "--int8", "--points-per-side", 2,
            "--pred-iou-thresh", 0, "--stability-score-thresh", 0, "--box-nms-thresh", 1,
            "--out", tmp_path / "out"]
    assert amg_main([str(a) for a in argv]) == 0
    annotations = json.loads((tmp_path / "out" / "a.json").read_text())["annotations"]
    model = load_checkpoint(DEMO_CHECKPOINT)
    model.image_encoder.int8 = True
    expected = AutomaticMaskGenerator(
        model, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0,
        box_nms_thresh=1.0, output_mode="coco_rle", use_hq=False, multimask_output=False,
        amp_dtype=torch.bfloat16,
    ).generate(image())
    assert len(annotations) == len(expected) == 4
    assert [a["segmentation"] for a in annotations] == [r["segmentation"] for r in expected]


def test_amg_int8_refuses_another_device(tmp_path, capsys, monkeypatch):
    from samhq_train.inference.amg_command import main as amg_main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(SystemExit) as exit_info:
        amg_main(["--image", str(tmp_path / "a.png"), "--device", "cuda", "--int8"])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--int8: runs on the CPU only" in errors[0]
