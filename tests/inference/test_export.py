"""Every export target loads in its consumer and reproduces our outputs (tiny random weights, SAM 1;
SAM 2.1's ONNX graph: test_export_sam2_onnx.py)."""

from importlib.metadata import version

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from samhq_train.inference import check_onnx, export_model, export_onnx
from samhq_train.inference.onnx_decoder_export import onnx_session, run_onnx
from samhq_train.model import (
    FAMILIES,
    SamFeatures,
    build_sam_hq,
    hq_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from tests.inference.export_prompts import ATOL, BOX, POINTS
from tests.reference import (
    build_official,
    load_transformers_model,
    patch_transformers_decoder,
    random_tiny_model,
)

is_hq_key = FAMILIES["sam1"].is_hq_key


ORIGINAL_SIZE = (384, 288)  # resized to the 256 x 192 input below
INPUT_SIZE = (256, 192)


@pytest.fixture(scope="module")
def model():
    return random_tiny_model(seed=4)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    return export_model(model, out, ["sam_hq", "transformers", "safetensors", "hq_only", "onnx"])


@pytest.fixture(scope="module")
def session(exported):
    return onnx_session(exported["onnx"])


@pytest.fixture(scope="module")
def features(model):
    images = torch.rand(1, 3, *INPUT_SIZE, generator=torch.Generator().manual_seed(5)) * 255
    with torch.no_grad():
        encoded = model.encode(images)
        return images, encoded.embedding, encoded.early


def ours(model, features, hq_token_only=False, multimask_output=False, **prompts):
    _, emb, early = features
    with torch.no_grad():
        low_res, iou = model.decode(SamFeatures(emb, early), hq_token_only=hq_token_only, multimask_output=multimask_output, **prompts
        )
        return model.postprocess_masks(low_res, INPUT_SIZE, ORIGINAL_SIZE), iou, low_res


def test_export_writes_every_target_where_the_docs_say(exported):
    names = {target: path.name for target, path in exported.items()}
    assert names == {
        "sam_hq": "sam_hq_vit_demo.pth",
        "transformers": "sam_hq_vit_demo_transformers",
        "safetensors": "sam_hq_vit_demo.safetensors",
        "hq_only": "sam_hq_vit_demo_hq.safetensors",
        "onnx": "sam_hq_vit_demo_decoder.onnx",
    }


@pytest.mark.parametrize("hq_token_only", [False, True])
def test_official_pth_loads_strictly_in_segment_anything_hq(
    model, exported, features, hq_token_only
):
    official = build_official("vit_demo")
    official.load_state_dict(torch.load(exported["sam_hq"], weights_only=True), strict=True)
    images = features[0]
    with torch.no_grad():
        (out,) = official(
            [{"image": images[0], "original_size": ORIGINAL_SIZE, "boxes": BOX[0]}],
            multimask_output=True,
            hq_token_only=hq_token_only,
        )
    masks, iou, low_res = ours(model, features, hq_token_only, multimask_output=True, boxes=BOX)
    torch.testing.assert_close(out["low_res_logits"], low_res[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(out["iou_predictions"], iou[0], atol=ATOL, rtol=0)
    # binary masks agree except where a logit is within float rounding of the threshold
    near_threshold = masks[0].abs() < ATOL
    assert ((out["masks"] == (masks[0] > 0)) | near_threshold).all()


def test_transformers_directory_loads_offline_and_matches(model, exported, features):
    hf = load_transformers_model(exported["transformers"])
    images, emb, early = features
    pixels = model.preprocess(images)
    with torch.no_grad():
        vision = hf.vision_encoder(pixels)
        torch.testing.assert_close(vision.last_hidden_state, emb, atol=ATOL, rtol=0)
        torch.testing.assert_close(vision.intermediate_embeddings[0], early, atol=ATOL, rtol=0)
        for hq_token_only in (False, True):
            _, iou, low_res = ours(model, features, hq_token_only, boxes=BOX, points=POINTS)
            kwargs = dict(
                image_embeddings=emb,
                intermediate_embeddings=vision.intermediate_embeddings,
                input_boxes=BOX,
                input_points=POINTS[0],
                input_labels=POINTS[1].long(),
                multimask_output=False,
                hq_token_only=hq_token_only,
            )
            torch.testing.assert_close(hf(**kwargs).iou_scores, iou, atol=ATOL, rtol=0)
            handles = patch_transformers_decoder(hf)  # its known decoder defect (tests/reference.py)
            try:
                torch.testing.assert_close(hf(**kwargs).pred_masks, low_res, atol=ATOL, rtol=0)
            finally:
                for handle in handles:
                    handle.remove()


def test_transformers_processor_pipeline_gives_our_predictor_masks(model, exported):
    """SamHQProcessor.from_pretrained(dir) offline -> SamHQModel -> post_process_masks, against
    SamHQPredictor on the same image and box (decoder defect patched)."""
    from transformers import SamHQProcessor

    from samhq_train.inference import SamHQPredictor

    image = np.random.default_rng(7).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    box = [10.0, 20.0, 150.0, 250.0]
    predictor = SamHQPredictor(model)
    predictor.set_image(image)
    masks, scores, _ = predictor.predict(
        box=np.array(box), multimask_output=False, return_logits=True
    )

    # the PIL processor resizes like SAM; the torchvision one differs by up to one grey level on
    # a few pixels. Chosen as docs/deployment.md says: transformers 5 deprecates use_fast
    processor = SamHQProcessor.from_pretrained(
        exported["transformers"], local_files_only=True, **PIL_IMAGE_PROCESSOR
    )
    inputs = processor(images=image, input_boxes=[[box]], return_tensors="pt")
    torch.testing.assert_close(
        inputs["pixel_values"][0],
        model.preprocess(torch.from_numpy(image_resized(image)).permute(2, 0, 1).float()[None])[0],
        atol=1e-4,
        rtol=0,
    )
    hf = load_transformers_model(exported["transformers"])
    handles = patch_transformers_decoder(hf)
    try:
        with torch.no_grad():
            out = hf(**inputs, multimask_output=False)
    finally:
        for handle in handles:
            handle.remove()
    torch.testing.assert_close(out.iou_scores[0, 0].numpy(), scores, atol=ATOL, rtol=0)
    hf_masks = processor.post_process_masks(
        out.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"], binarize=False
    )[0][0]
    np.testing.assert_allclose(hf_masks.numpy(), masks, atol=ATOL, rtol=0)


PIL_IMAGE_PROCESSOR = (
    {"backend": "pil"} if int(version("transformers").split(".")[0]) >= 5 else {"use_fast": False}
)


def image_resized(image):
    from samhq_train.model.sam1 import LongestSideProcessing

    return LongestSideProcessing(256).resize_image(image).astype(np.uint8)


def test_full_safetensors_reproduces_the_model(model, exported, features):
    reloaded = load_checkpoint(exported["safetensors"])
    for a, b in zip(ours(model, features, boxes=BOX), ours(reloaded, features, boxes=BOX)):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_hq_only_file_holds_only_hq_parameters_and_applies_onto_its_base(
    model, exported, features, tmp_path
):
    with safe_open(str(exported["hq_only"]), "pt") as handle:
        keys = set(handle.keys())
    assert keys == set(hq_state_dict(model))
    n_hq = sum(v.numel() for v in hq_state_dict(model).values())
    assert exported["hq_only"].stat().st_size < n_hq * 4 + 20_000  # fp32 tensors + a small header
    base = tmp_path / "sam_tiny.pth"
    torch.save({k: v for k, v in model.state_dict().items() if not is_hq_key(k)}, base)
    reloaded = load_checkpoint(exported["hq_only"], base_checkpoint=base)
    for a, b in zip(ours(model, features, boxes=BOX), ours(reloaded, features, boxes=BOX)):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_hq_only_file_of_vit_b_is_under_10_mb():
    with torch.device("meta"):
        vit_b = build_sam_hq("vit_b")
    n_hq = sum(v.numel() for v in hq_state_dict(vit_b).values())
    assert n_hq == 1_071_104
    assert n_hq * 4 < 10e6  # 4.3 MB of fp32 tensors


def onnx_prompt(kind):
    """(coords 1 x N x 2, labels 1 x N) in SAM's ONNX convention, and the same prompt for decode."""
    box_points, box_labels = BOX.reshape(1, 2, 2), torch.tensor([[2.0, 3.0]])
    points, labels = POINTS[0][0], POINTS[1][0]
    if kind == "box":
        return box_points, box_labels, dict(boxes=BOX)
    if kind == "points":
        pad = torch.zeros(1, 1, 2), -torch.ones(1, 1)
        return torch.cat([points, pad[0]], 1), torch.cat([labels, pad[1]], 1), dict(points=POINTS)
    return (
        torch.cat([points, box_points], 1),
        torch.cat([labels, box_labels], 1),
        dict(points=POINTS, boxes=BOX),
    )


@pytest.mark.parametrize("kind", ["box", "points", "box+points"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_onnx_decoder_matches_torch_in_onnxruntime(model, session, features, kind, with_mask):
    _, emb, early = features
    coords, labels, prompts = onnx_prompt(kind)
    mask_input = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(6)) * 3
    if with_mask:
        prompts["mask_inputs"] = mask_input[None]
    inputs = (
        emb,
        early,
        coords,
        labels,
        mask_input,
        torch.tensor([float(with_mask)]),
        torch.tensor(ORIGINAL_SIZE, dtype=torch.float32),
    )
    got = run_onnx(session, inputs)
    expected = ours(model, features, **prompts)
    assert got[0].shape == (1, 1, *ORIGINAL_SIZE)
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value, reference[0].numpy(), atol=ATOL, rtol=0)


def test_onnx_with_hq_token_only_and_multimask(model, features, tmp_path):
    path = export_onnx(model, tmp_path / "d.onnx", hq_token_only=True, multimask_output=True)
    assert check_onnx(model, path, hq_token_only=True, multimask_output=True) < ATOL
    _, emb, early = features
    coords, labels, prompts = onnx_prompt("points")
    inputs = (
        emb,
        early,
        coords,
        labels,
        torch.zeros(1, 1, 64, 64),
        torch.zeros(1),
        torch.tensor(ORIGINAL_SIZE, dtype=torch.float32),
    )
    got = run_onnx(onnx_session(path), inputs)
    expected = ours(model, features, hq_token_only=True, multimask_output=True, **prompts)
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value, reference[0].numpy(), atol=ATOL, rtol=0)


def test_export_rejects_an_unknown_target(model, tmp_path):
    with pytest.raises(ValueError, match="unknown export target"):
        export_model(model, tmp_path, ["tflite"])


def test_verify_catches_a_file_that_differs(model, tmp_path):
    from samhq_train.inference import verify_weights

    other = random_tiny_model(seed=9)
    path = save_checkpoint(other, tmp_path / "other.safetensors", "safetensors")
    with pytest.raises(RuntimeError, match="tensors differ from the model"):
        verify_weights(model, path, "safetensors")
    # bit for bit: one value one float32 step off (as a bf16 round trip would leave many) fails
    state = {k: v.clone() for k, v in model.state_dict().items()}
    key = "mask_decoder.hf_token.weight"
    state[key].view(-1)[0] = torch.nextafter(state[key].view(-1)[0], torch.tensor(1.0))
    save_file(state, str(tmp_path / "near.safetensors"))
    with pytest.raises(RuntimeError, match=r"1 tensors differ from the model, first: \['" + key):
        verify_weights(model, tmp_path / "near.safetensors", "safetensors")
    verify_weights(model, save_checkpoint(model, tmp_path / "same.safetensors", "safetensors"),
                   "safetensors")


def test_lora_run_exports_reproduce_the_adapted_model(tmp_path):
    """A hq+lora model (adapters and HQ parts trained): its delta re-applied onto the base and its
    merged full file both give the adapted model's outputs, not the base's."""
    policy = {"name": "hq+lora", "lora": {"rank": 2, "alpha": 4.0}}
    base_path = save_checkpoint(random_tiny_model(seed=6), tmp_path / "sam_hq_vit_demo.pth", "sam_hq")
    model = build_sam_hq("vit_demo", checkpoint=str(base_path), policy=policy).eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:  # what the run trains: lora_A / lora_B and the HQ parts
                param.add_(torch.randn(param.shape, generator=torch.Generator().manual_seed(7)) * 0.05)
    files = export_model(model, tmp_path / "out", ["delta", "safetensors"], policy=policy)
    images = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(8)) * 255
    with torch.no_grad():
        want, _ = model(images, boxes=BOX)
        base, _ = load_checkpoint(base_path).eval()(images, boxes=BOX)
        assert (want - base).abs().max() > 1e-2  # the adapters matter
        for got in (
            load_checkpoint(files["delta"], base_checkpoint=base_path),
            load_checkpoint(files["safetensors"]),
        ):
            masks, _ = got.eval()(images, boxes=BOX)
            torch.testing.assert_close(masks, want, atol=ATOL, rtol=0)
