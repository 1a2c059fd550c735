"""What each policy trains, from the model's modules rather than from the key filters the policy
itself uses: hq+decoder trains the HQ parts and every parameter of the family's mask decoder
module (SAM 1, SAM 2.1, SAM 3: a decoder prefix narrowed to its transformer survived the parameter
counts, which exist for SAM 1 only), and the image encoder runs with autograd exactly when the
policy trains a parameter outside the prompt and mask decoders (`full` under no_grad survived: its
HQ parts still trained)."""

import pytest
import torch

from samhq_train.model import POLICIES, build_sam_hq, encoder_needs_grad, trained_parameter_names
from samhq_train.model.registry import family_of_model

VARIANTS = ["vit_demo", "sam2.1_hq_hiera_demo", "sam3_hq_demo"]


def decoders(model) -> tuple[str, torch.nn.Module, torch.nn.Module]:
    """(name of the mask decoder module, it, the prompt encoder), found by module path."""
    for name in ("tracker.sam_mask_decoder", "sam_mask_decoder", "mask_decoder"):
        try:
            decoder = model.get_submodule(name)
        except AttributeError:
            continue
        prompt = name.replace("mask_decoder", "prompt_encoder")
        return name, decoder, model.get_submodule(prompt)
    raise AssertionError(f"no mask decoder in {type(model).__name__}")


@pytest.fixture(scope="module", params=VARIANTS)
def model(request):
    with torch.device("meta"):
        return build_sam_hq(request.param)


def test_hq_decoder_trains_the_whole_mask_decoder_and_the_hq_parts(model):
    name, decoder, _ = decoders(model)
    whole_decoder = {f"{name}.{n}" for n, _ in decoder.named_parameters()}
    hq = set(trained_parameter_names(model, "hq"))
    assert hq and hq <= whole_decoder | {n for n, _ in model.named_parameters()}
    family = family_of_model(model)
    hq_outside = {n for n in hq if not n.startswith(f"{name}.")}  # e.g. an early fusion's parts
    assert set(trained_parameter_names(model, "hq+decoder")) == whole_decoder | hq_outside
    assert all(family.is_hq_key(n) for n in hq_outside)
    # the transformer, the output tokens, the hypernetwork MLPs and the IoU head are all in it
    for part in ("transformer.", "iou_token", "output_upscaling", "output_hypernetworks_mlps",
                 "iou_prediction_head"):
        assert any(n.startswith(f"{name}.{part}") for n in whole_decoder), part


# hq+lora's adapters are added by prepare_model: test_lora_adapters_put_the_encoder_under_autograd
@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "hq+lora"])
def test_encoder_runs_with_autograd_exactly_when_it_has_trained_parameters(model, policy):
    name, decoder, prompt = decoders(model)
    outside = [
        n
        for n in trained_parameter_names(model, policy)
        if not n.startswith((f"{name}.", f"{name.replace('mask_decoder', 'prompt_encoder')}."))
        and not family_of_model(model).is_hq_key(n)
    ]
    assert encoder_needs_grad(policy) == bool(outside), outside[:3]


def test_lora_adapters_put_the_encoder_under_autograd():
    with torch.device("meta"):
        model = build_sam_hq("vit_demo", policy="hq+lora")
    trained = trained_parameter_names(model, "hq+lora")
    assert any(n.startswith("image_encoder.") for n in trained) and encoder_needs_grad("hq+lora")
