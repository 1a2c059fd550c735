"""The ONNX image encoders (fp32 and fp16) equal the torch encoder, and with the prompt-decoder
ONNX they give SamHQPredictor's masks in onnxruntime alone: the documented example is run with torch
unimportable. Tiny random-weight models of each encoder kind: ViT, TinyViT, Hiera."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from samhq_train.inference import SamHQPredictor, export_model
from samhq_train.inference import onnx_encoder_export as encoder_export
from samhq_train.inference.holes import SAM3_IMAGE_FILL, fill_holes
from samhq_train.inference.onnx_decoder_export import onnx_decoder
from samhq_train.inference.onnx_encoder_export import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    OnnxExportError,
    check_onnx_encoder,
    export_onnx_encoder,
    on_cpu,
    onnx_session,
)
from samhq_train.model import FAMILIES, add_lora, build_sam_hq, family_of_model
from samhq_train.model.onnx_encoder import OnnxImageEncoder
from samhq_train.model.sam1.config import TinyViTConfig
from tests.documentation import code_blocks
from tests.reference import random_tiny_model, randomize_

TARGETS = ["onnx", "onnx_encoder", "onnx_encoder_fp16"]
BOX = [30.0, 40.0, 250.0, 330.0]  # in the 360 x 270 image below


def tiny_vit_model(seed: int = 3):
    """A TinyViT-encoder SAM 1 model of vit_demo's decoder size at 256 px."""
    demo = FAMILIES["sam1"].variants["vit_demo"]
    tiny = TinyViTConfig(
        embed_dims=(16, 32, 48, 64),
        depths=(1, 1, 2, 1),
        num_heads=(1, 2, 2, 2),
        window_sizes=(7, 7, 7, 7),
    )
    cfg = dataclasses.replace(demo, encoder_embed_dim=48, tiny_vit=tiny)
    torch.manual_seed(seed)
    return randomize_(FAMILIES["sam1"].build(cfg).eval(), seed=seed)


@pytest.fixture(scope="module")
def sam1_model():
    return random_tiny_model(seed=4)


@pytest.fixture(scope="module")
def sam2_model():
    return randomize_(build_sam_hq("sam2.1_hq_hiera_demo", seed=4), seed=4)


@pytest.fixture(scope="module")
def sam3_model():
    return randomize_(build_sam_hq("sam3_hq_demo", seed=4), seed=4)


@pytest.fixture(scope="module", params=["sam1", "sam2", "sam3"])
def exported(request, sam1_model, sam2_model, sam3_model, tmp_path_factory):
    """(model, {target: path}) for each family; the tests below check the files (the export's
    own check is check_onnx_encoder, exercised there). SAM 3's mask prompt is not S / 4."""
    model = {"sam1": sam1_model, "sam2": sam2_model, "sam3": sam3_model}[request.param]
    out = tmp_path_factory.mktemp(f"onnx_{request.param}")
    return model, export_model(model, out, TARGETS, name="sam_hq_vit_b", verify=False)


def resized_batch(model, size, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=gen) * 255


def test_encoder_outputs_equal_torch_encode(exported):
    """Independently of the export's own check: model.encode on a batch of 2 resized images (for
    SAM 1 not square: the graph pads) against the fp32 file."""
    model, paths = exported
    s = model.image_size
    size = (s * 5 // 8, s) if model.family == "sam1" else (s, s)
    images = resized_batch(model, size)
    with torch.no_grad():
        expected = model.encode(images).tensors()
    session = onnx_session(paths["onnx_encoder"])
    got = dict(
        zip([o.name for o in session.get_outputs()], session.run(None, {"image": images.numpy()}))
    )
    decoder_inputs = [i.name for i in onnx_session(paths["onnx"]).get_inputs()]
    assert list(got) == decoder_inputs[: len(got)]  # encoder outputs feed the decoder by name
    for (field, want), have in zip(expected.items(), got.values()):
        assert have.shape == tuple(want.shape), field
        scale = want.abs().max().item()
        assert np.abs(have - want.numpy()).max() <= FP32_TOLERANCE * scale, field


def test_fp16_file_is_half_precision_within_its_tolerance(exported):
    model, paths = exported
    proto = onnx.load(str(paths["onnx_encoder_fp16"]))
    weights = [
        t
        for t in proto.graph.initializer
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    ]
    half = sum(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert half > 0.9 * len(weights)  # float32 only in what the graph computes in float32
    io = [*proto.graph.input, *proto.graph.output]
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in io)
    assert paths["onnx_encoder_fp16"].stat().st_size < 0.7 * paths["onnx_encoder"].stat().st_size
    worst = check_onnx_encoder(model, paths["onnx_encoder_fp16"], fp16=True)
    assert 1e-5 < worst <= FP16_TOLERANCE  # really rounded, and within the stated tolerance


def test_metadata_names_the_input_rule(exported):
    model, paths = exported
    for target, precision in (("onnx_encoder", "fp32"), ("onnx_encoder_fp16", "fp16")):
        meta = onnx_session(paths[target]).get_modelmeta().custom_metadata_map
        assert meta["image_size"] == str(model.image_size)
        assert meta["resize"] == model.processing.eval_transform
        assert meta["family"] == model.family and meta["precision"] == precision
    assert paths["onnx_encoder"].name == "sam_hq_vit_b_encoder.onnx"
    assert paths["onnx_encoder_fp16"].name == "sam_hq_vit_b_encoder_fp16.onnx"


def readme_example() -> tuple[str, str]:
    """(functions, usage) of the documentation's onnxruntime example."""
    blocks = [code for _, code in code_blocks("python")]
    (code,) = [b for b in blocks if "def segment_box" in b]
    functions, usage = code.split("\nimage = ", 1)
    return functions, "image = " + usage


def test_readme_hole_filling_equals_the_predictors():
    """The example's numpy fill (runs joined into 8-connected regions) and resize against
    holes.fill_holes (OpenCV's connected components) and torch's bilinear resize: blurred noise
    of several scales and areas, so regions of every size, diagonal contacts and border holes."""
    namespace = {}
    exec(readme_example()[0], namespace)
    assert namespace["FILL"] == SAM3_IMAGE_FILL
    rng, filled = np.random.default_rng(0), 0
    for seed in range(12):
        noise = torch.from_numpy(rng.standard_normal((1, 1, 16, 20), dtype=np.float32))
        size = (48, 40) if seed % 2 else (61, 70)
        logits = torch.nn.functional.interpolate(noise, size, mode="bilinear") - 0.2 * (seed % 3)
        area = (0, 1, 5, 30, 256)[seed % 5]
        want = fill_holes(logits, area, SAM3_IMAGE_FILL)[0, 0].numpy()
        got = namespace["fill_holes"](logits[0, 0].numpy(), area)
        assert np.array_equal(got, want), (seed, area)
        filled += int(not np.array_equal(want, logits[0, 0].numpy()))
        for h, w in ((97, 123), (20, 31)):  # up and down
            resized = torch.nn.functional.interpolate(
                torch.from_numpy(want)[None, None], (h, w), mode="bilinear"
            )[0, 0].numpy()
            got = namespace["upsample"](want, h, w)
            assert got.dtype == np.float32
            assert np.abs(got - resized).max() <= 1e-5 * np.abs(want).max()
    assert filled >= 5  # maps with holes filled (6 of the 9 with an area > 0)


def without_metadata(decoder: Path, path: Path) -> Path:
    """A copy of an exported decoder as files were written before they had metadata."""
    proto = onnx.load(str(decoder))
    del proto.metadata_props[:]
    onnx.save(proto, str(path))
    return path


def test_readme_example_runs_the_prediction_without_torch(exported, tmp_path):
    """The documented code, verbatim (torch and samhq_train unimportable), for the fp32 and fp16
    encoders, against SamHQPredictor's defaults on the same image and box (for SAM 3 its holes
    filled); a decoder file without the hole area against predict(fill_hole_area=0)."""
    model, paths = exported
    area = family_of_model(model).image_fill_hole_area
    meta = onnx_session(paths["onnx"]).get_modelmeta().custom_metadata_map
    assert meta == {"family": model.family, "fill_hole_area": str(area)}
    assert area == (256 if model.family == "sam3" else 0)
    old_decoder = without_metadata(paths["onnx"], tmp_path / "old_decoder.onnx")
    functions, usage = readme_example()
    image = np.random.default_rng(1).integers(0, 256, (360, 270, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    usage = usage.replace("photo.jpg", str(tmp_path / "photo.png")).replace(
        "exported/", f"{paths['onnx'].parent}/"
    )
    usage = usage.replace("[100, 200, 900, 1400]", repr(BOX))
    script = "\n".join(
        [
            "import sys",
            "sys.modules['torch'] = sys.modules['samhq_train'] = None  # unimportable",
            functions,
            usage,
            "half = segment_box(sys.argv[1], sys.argv[2], image, " + repr(BOX) + ")",
            f"old = segment_box(sys.argv[1].replace('_fp16', ''), sys.argv[4], image, {BOX!r})",
            "np.savez(sys.argv[3], logits=logits, iou=iou, low_res=low_res, mask=mask, "
            "half_logits=half[0], half_iou=half[1], half_low_res=half[2], old_logits=old[0])",
        ]
    )
    (tmp_path / "example.py").write_text(script)
    result = tmp_path / "result.npz"
    run = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "example.py"),
            str(paths["onnx_encoder_fp16"]),
            str(paths["onnx"]),
            str(result),
            str(old_decoder),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = np.load(result)

    predictor = SamHQPredictor(model)
    predictor.set_image(image)
    prompt = dict(box=np.array(BOX), multimask_output=False, return_logits=True)
    logits, iou, low_res = predictor.predict(**prompt)  # the defaults: SAM 3 fills holes
    unfilled = predictor.predict(**prompt, fill_hole_area=0)[0][0]
    if area:  # the fixture has holes to fill: without them the masks differ
        assert ((unfilled > 0) != (logits[0] > 0)).sum() > 1000
    scale = np.abs(unfilled).max()  # of the decoder's logits (a filled hole's are FILL)
    assert got["logits"].shape == logits[0].shape == image.shape[:2]
    assert np.abs(got["logits"] - logits[0]).max() <= 1e-4 * scale
    assert np.abs(got["low_res"] - low_res[0]).max() <= 1e-4 * scale
    assert abs(got["iou"] - iou[0]) <= 1e-4
    # masks equal but where torch's logit is within the tolerance of 0
    assert np.all((got["mask"] == (logits[0] > 0)) | (np.abs(logits[0]) <= 1e-4 * scale))
    # a decoder exported before the hole area was written: no fill, as fill_hole_area=0
    assert np.abs(got["old_logits"] - unfilled).max() <= 1e-4 * scale
    # fp16 encoder: the same prediction within the fp16 tolerance, masks nearly equal (a hole
    # near the area limit may be filled in one and not the other)
    assert np.abs(got["half_low_res"] - low_res[0]).max() <= FP16_TOLERANCE * scale
    assert abs(got["half_iou"] - iou[0]) <= FP16_TOLERANCE
    assert ((got["half_logits"] > 0) == (logits[0] > 0)).mean() > 0.99


def test_every_family_encoder_feeds_its_decoder_by_name():
    for name, family in FAMILIES.items():
        assert issubclass(family.onnx_encoder, OnnxImageEncoder), name
        assert family.onnx_encoder.feature_outputs == family.onnx_decoder.feature_inputs, name


def test_tiny_vit_encoder_exports_with_dynamic_batch_and_size(tmp_path):
    model = tiny_vit_model()
    path = export_onnx_encoder(model, tmp_path / "tiny_vit_encoder.onnx")
    assert check_onnx_encoder(model, path) <= FP32_TOLERANCE  # batch 2, two long-side shapes
    session = onnx_session(path)
    shapes = {i.name: i.shape for i in [*session.get_inputs(), *session.get_outputs()]}
    assert shapes["image"] == ["batch", 3, "height", "width"]
    assert shapes["early_features"][0] == "batch"


def test_the_check_fails_for_another_model(exported):
    model, paths = exported
    other = randomize_(build_sam_hq(detect_variant_name(model), seed=9), seed=9)
    with pytest.raises(RuntimeError, match="differs from torch"):
        check_onnx_encoder(other, paths["onnx_encoder"])


def detect_variant_name(model) -> str:
    return {"sam1": "vit_demo", "sam2": "sam2.1_hq_hiera_demo", "sam3": "sam3_hq_demo"}[
        model.family
    ]


def test_lora_model_exports_merged_and_stays_unchanged(tmp_path):
    model = random_tiny_model(seed=5)
    add_lora(model, ["image_encoder.blocks.*.attn.qkv"], rank=2, alpha=4.0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(0, 0.05)
    keys = set(model.state_dict())
    path = export_onnx_encoder(model, tmp_path / "lora_encoder.onnx")
    assert set(model.state_dict()) == keys  # the adapters are merged on a copy
    assert not any("lora" in t.name for t in onnx.load(str(path)).graph.initializer)
    assert check_onnx_encoder(model, path) <= FP32_TOLERANCE  # the LoRA model's own outputs



def test_the_exports_trace_an_fp32_cpu_copy_leaving_the_model_as_it_was():
    """on_cpu, the one CPU copy of the ONNX exports (encoder fp32 / fp16, prompt decoder): the
    model itself when it is already right, else a copy; the model given is never cast."""
    model = random_tiny_model(seed=5)
    assert on_cpu(model) is model
    half = on_cpu(model, torch.float16)
    assert half is not model and next(half.parameters()).dtype == torch.float16
    assert next(model.parameters()).dtype == torch.float32
    wrapper = onnx_decoder(half)
    assert next(wrapper.parameters()).dtype == torch.float32
    assert next(half.parameters()).dtype == torch.float16

def test_family_without_an_encoder_is_refused_in_one_line(sam1_model, tmp_path, monkeypatch):
    family = dataclasses.replace(FAMILIES["sam1"], onnx_encoder=None)
    monkeypatch.setattr(encoder_export, "family_of_model", lambda model: family)
    with pytest.raises(OnnxExportError, match="the sam1 family has none") as err:
        export_onnx_encoder(sam1_model, tmp_path / "e.onnx")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "e.onnx").exists()


def test_large_encoder_keeps_its_weights_in_one_data_file(sam1_model, tmp_path, monkeypatch):
    """Over protobuf's 2 GB (vit_h fp32) the weights go to <file>.data; forced here with a 0 limit.
    A later small export over it removes the stale .data."""
    path = tmp_path / "big_encoder.onnx"
    monkeypatch.setattr(encoder_export, "PROTOBUF_LIMIT", 0)
    export_onnx_encoder(sam1_model, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "big_encoder.onnx",
        "big_encoder.onnx.data",
    ]
    assert path.stat().st_size < (tmp_path / "big_encoder.onnx.data").stat().st_size
    assert check_onnx_encoder(sam1_model, path) <= FP32_TOLERANCE
    monkeypatch.undo()
    export_onnx_encoder(sam1_model, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big_encoder.onnx"]


@pytest.mark.parametrize("variant", ["sam3_hq_demo", "sam3_hq_ef_demo"])
def test_sam3_encoders_export_and_pass_their_check(variant, tmp_path):
    model = randomize_(build_sam_hq(variant, seed=4), seed=4).eval()
    for precision, tolerance in (("fp32", 1e-5), ("fp16", 3e-3), ("int8", 0.05)):
        options = {} if precision == "fp32" else {precision: True}
        path = export_onnx_encoder(model, tmp_path / f"{variant}_{precision}.onnx", **options)
        assert check_onnx_encoder(model, path, **options) < tolerance
