"""The SAM rows of the validation / evaluation tables say what they measured: after hq+decoder or
hq+lora the decoder without the HQ token is the adapted SAM (labelled so), and the untouched base
is scored beside it where the same embedding serves (evaluation/baseline.py)."""

import pytest
import torch

from samhq_train.evaluation.baseline import base_decoder_state, parameters_set_to
from samhq_train.evaluation.evaluate import predict_batch
from samhq_train.evaluation.report import markdown_tables, model_labels
from samhq_train.model import TrainablePolicy, build_sam_hq
from samhq_train.run.outputs import print_results, result_rows
from samhq_train.train import train
from tests.training.helpers import compose_cfg

DECODER_LORA = TrainablePolicy.from_config(
    "hq+lora", lora={"targets": ["mask_decoder.transformer.*"]}
)


def batch_of(model, n: int = 2) -> dict:
    """A batch as the evaluation loaders give it: images filling the model frame, GT boxes."""
    size, g = model.image_size, torch.Generator().manual_seed(0)
    boxes = torch.tensor([[20.0, 30.0, 180.0, 200.0], [50.0, 40.0, 120.0, 230.0]])[:n]
    return {
        "image": torch.rand(n, 3, size, size, generator=g) * 255,
        "boxes": boxes,
        "prompt_type": ["box"] * n,
        "input_size": [(size, size)] * n,
        "original_size": [(size, size)] * n,
    }


def nudge(model, state: dict) -> None:
    """What training does to the parameters of `state`: move every one of them."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in state:
            params[name].add_(0.05 * torch.randn_like(params[name]))


@pytest.mark.parametrize("policy", ["hq", "hq+lora", "full"])
def test_no_base_state_where_sam_is_untouched_or_the_embedding_changes(policy):
    model = build_sam_hq("vit_demo", seed=0, policy=policy)
    assert base_decoder_state(model, policy) is None


@pytest.mark.parametrize("policy", ["hq+decoder", DECODER_LORA], ids=["decoder", "decoder_lora"])
def test_the_kept_state_scores_the_untouched_base_from_the_same_embedding(policy):
    base = build_sam_hq("vit_demo", seed=0)
    model = build_sam_hq("vit_demo", seed=0, policy=policy)
    state = base_decoder_state(model, policy)
    assert state and all(k.startswith("mask_decoder.") for k in state)
    batch = batch_of(model)
    before = predict_batch(model, batch, sam_baseline=True)["sam"]
    nudge(model, state)
    after = predict_batch(model, batch, sam_baseline=True, base_state=state)
    for kept, untouched, reference in zip(after["sam_base"], before, predict_batch(
        base, batch, sam_baseline=True
    )["sam"]):
        assert torch.allclose(kept, untouched, atol=1e-5)
        assert torch.allclose(kept, reference, atol=1e-5)  # the official weights' SAM
    assert not all(torch.allclose(a, b, atol=1e-3) for a, b in zip(after["sam"], before))
    # the trained values are back after the base decode
    params = dict(model.named_parameters())
    moved = {n: params[n].detach().clone() for n in state}
    with parameters_set_to(model, state):
        assert all(torch.equal(params[n], state[n]) for n in state)
    assert all(torch.equal(params[n], moved[n]) for n in state)


def test_labels_name_what_each_row_measured():
    assert model_labels("hq")["sam"] == "SAM"
    assert model_labels("hq+decoder")["sam"] == "SAM, fine-tuned decoder"
    assert model_labels("hq+lora")["sam"] == "SAM + LoRA adapters"
    assert result_rows("hq+decoder") == {
        "sam_base": "SAM (no HQ token)",
        "sam": "SAM, fine-tuned decoder (no HQ token)",
        "before": "before training",
        "after": "after training",
    }
    scores = {"A": {"mIoU": 0.5, "mBIoU": 0.4, "count": 2}}
    table = markdown_tables({"results": {"sam": scores, "hq": scores}}, model_labels("hq+lora"))
    assert "| SAM + LoRA adapters | 50.00 | 40.00 | 2 |" in table
    assert "| SAM-HQ | 50.00 | 40.00 | 2 |" in table


@pytest.mark.parametrize(
    "policy,before,base_row",
    [("hq+decoder", "true", True), ("hq+decoder", "false", True), ("hq+lora", "true", True),
     ("hq+lora", "false", False)],
)
def test_a_run_prints_the_base_and_the_adapted_sam(tmp_path, policy, before, base_row, capsys):
    """hq+decoder scores its kept base decoder; encoder LoRA changes the embedding, so its base
    row is the validation before training (and missing without one)."""
    metrics, objects = train(compose_cfg(
        tmp_path, tmp_path / "data", f"model.policy={policy}", "debug=limit", "export=false",
        f"validate_before_training={before}", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
    ))
    assert metrics["sam"] and metrics["after"]
    assert bool(metrics.get("sam_base")) == base_row
    print_results(metrics, objects["module"].policy)
    out = capsys.readouterr().out
    label = {"hq+decoder": "SAM, fine-tuned decoder", "hq+lora": "SAM + LoRA adapters"}[policy]
    assert f"| {label} (no HQ token) |" in out
    assert ("| SAM (no HQ token) |" in out) == base_row
    if base_row:
        assert metrics["sam_base"] != metrics["sam"]  # the adapted SAM is not the base


def test_the_trained_values_come_back_after_an_error_in_the_base_decode():
    model = build_sam_hq("vit_demo", seed=0, policy="hq+decoder")
    state = base_decoder_state(model, "hq+decoder")
    nudge(model, state)
    params = dict(model.named_parameters())
    moved = {n: params[n].detach().clone() for n in state}
    with pytest.raises(RuntimeError, match="decode failed"), parameters_set_to(model, state):
        assert all(torch.equal(params[n], state[n]) for n in state)
        raise RuntimeError("decode failed")
    assert all(torch.equal(params[n], moved[n]) for n in state)
