"""Same weights, image and prompts: our Sam3HQ (HQ token off) against Meta's sam3 0.1.4
interactive predictor (SAM3InteractiveImagePredictor.set_image + predict, which is what
Sam3Image.predict_inst runs on the detector's backbone features), fp32, on the miniature:
once against the committed fixture, and live against the installed package when there is one."""

import importlib.util

import pytest
import torch

from .cases import CASES, make_image, our_outputs

ATOL = 1e-5
FEATURES = ("image_embed", "high_res_feat_0", "high_res_feat_1")
FIELDS = ("low_res", "iou", "object_score", "masks")
HAVE_SAM3 = importlib.util.find_spec("sam3") is not None


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != reference {tuple(b.shape)}"
    return (a.float() - b.float()).abs().max().item()


def assert_outputs_match(ours: dict, ref: dict) -> None:
    for key in FEATURES:
        assert max_diff(ours[key], ref[key]) < ATOL, key
    for name, multimask in CASES:
        case = f"{name}/{multimask}"
        for field in FIELDS:
            assert max_diff(ours[case][field], ref[case][field]) < ATOL, f"{case} {field}"


@pytest.fixture(scope="module")
def fixture_outputs(meta_model, meta_fixture):
    return our_outputs(meta_model, meta_fixture["image"].numpy(), meta_fixture["mask_input"])


def test_matches_the_fixture(fixture_outputs, meta_fixture):
    assert_outputs_match(fixture_outputs, meta_fixture["outputs"])


def test_the_cases_are_not_degenerate(meta_fixture):
    """The references differ between cases (a test that cannot fail would not)."""
    out = meta_fixture["outputs"]
    assert max_diff(out["box/False"]["low_res"], out["points/False"]["low_res"]) > 1e-2
    assert max_diff(out["points/False"]["low_res"], out["points+mask/False"]["low_res"]) > 1e-2
    assert out["box/True"]["low_res"].shape[0] == 3 and out["box/False"]["low_res"].shape[0] == 1


def test_hq_token_changes_the_masks(meta_model, fixture_outputs, meta_fixture):
    from .cases import decode_kwargs, model_input

    with torch.no_grad():
        features = meta_model.encode(
            model_input(meta_fixture["image"].numpy(), meta_model.image_size)
        )
        low, _ = meta_model.decode(
            features, use_hq=True, **decode_kwargs("box", meta_model.image_size, None)
        )
    assert max_diff(low[0, 0].clamp(-32, 32), fixture_outputs["box/False"]["low_res"]) > 1e-3


@pytest.mark.skipif(
    not HAVE_SAM3, reason="Meta's sam3 package is not installed (pip install sam3==0.1.4 --no-deps)"
)
def test_matches_meta_sam3_live():
    from samhq_train.model.sam3 import FAMILY, build

    from .meta_reference import VARIANT, VARIANTS, build_meta_mini, meta_outputs

    tracker, predictor, state = build_meta_mini(seed=1)
    image = make_image(seed=1)
    ref, mask_input = meta_outputs(tracker, predictor, image)
    model = build(VARIANTS[VARIANT]).eval()
    FAMILY.adopt_state(model, state)
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys and all(
        "hf_" in k or "maskfeature" in k for k in result.missing_keys
    )
    assert_outputs_match(our_outputs(model, image, mask_input), ref)


@pytest.mark.skipif(
    not HAVE_SAM3, reason="Meta's sam3 package is not installed (pip install sam3==0.1.4 --no-deps)"
)
def test_predict_inst_is_the_predictor():
    """Sam3Image.predict_inst (the image model's entry) runs the same predictor on the same
    features: its answer equals set_image + predict."""
    from types import SimpleNamespace

    from sam3.model.sam3_image import Sam3Image

    from .cases import BOX
    from .meta_reference import build_meta_mini

    tracker, predictor, _ = build_meta_mini()
    image = make_image()
    predictor.set_image(image)
    expected = predictor.predict(
        box=torch.tensor(BOX).numpy(), multimask_output=True, return_logits=True
    )
    x = predictor._transforms(image)[None]
    with torch.no_grad():
        state = {
            "original_height": image.shape[0],
            "original_width": image.shape[1],
            "backbone_out": {"sam2_backbone_out": tracker.forward_image(x)},
        }
        got = Sam3Image.predict_inst(
            SimpleNamespace(inst_interactive_predictor=predictor),
            state,
            box=torch.tensor(BOX).numpy(),
            multimask_output=True,
            return_logits=True,
        )
    for a, b in zip(got, expected):
        assert abs(a - b).max() < 1e-6
