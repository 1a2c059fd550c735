"""Trainable policies: key sets, optimizer contents, frozen parts untouched, LoRA merged on export."""

import functools

import pytest
import torch

from samhq_train.model import (
    POLICIES,
    Provenance,
    TrainablePolicy,
    build_sam_hq,
    is_lora_key,
    load_checkpoint,
    save_checkpoint,
    trained_parameter_names,
)
from samhq_train.train import SetupError, train
from samhq_train.training.module import SamHQModule
from tests.training.helpers import compose_cfg

# trainable parameter counts per policy (LoRA: rank 8 on the encoder attention's qkv and proj)
COUNTS = {
    ("hq", "vit_b"): 1_071_104,
    ("hq+decoder", "vit_b"): 5_129_444,
    ("hq+lora", "vit_b"): 1_513_472,
    ("full", "vit_b"): 94_806_576,
    ("hq", "vit_tiny"): 448_512,
    ("hq+decoder", "vit_tiny"): 4_506_852,
    ("hq+lora", "vit_tiny"): 537_600,
    ("full", "vit_tiny"): 10_578_604,
}
HQ = ("hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")


def key_kind(name: str) -> str:
    if any(part in HQ for part in name.split(".")):
        return "hq"
    if is_lora_key(name):
        return "lora"
    return name.split(".")[0]


@pytest.mark.parametrize("policy,variant", sorted(COUNTS))
def test_trainable_counts_and_key_kinds(policy, variant):
    with torch.device("meta"):
        model = build_sam_hq(variant, policy=policy)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == COUNTS[policy, variant]
    kinds = {key_kind(n) for n in trained_parameter_names(model, policy)}
    expected = {
        "hq": {"hq"},
        "hq+decoder": {"hq", "mask_decoder"},
        "hq+lora": {"hq", "lora"},
        "full": {"hq", "image_encoder", "prompt_encoder", "mask_decoder"},
    }[policy]
    assert kinds == expected
    if policy == "hq+lora":  # the adapters sit on exactly the encoder attention's qkv and proj
        wrapped = {n.rsplit(".", 1)[0] for n in trained_parameter_names(model, policy) if is_lora_key(n)}
        assert wrapped and all(w.endswith(("attn.qkv", "attn.proj")) for w in wrapped)


@pytest.mark.parametrize("policy", POLICIES)
def test_optimizer_holds_exactly_the_policy_parameters(policy):
    model = build_sam_hq("vit_demo", seed=0, policy=policy)
    module = SamHQModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        provenance=Provenance(variant="vit_demo", seed=0, policy=policy),
    )
    optimizer = module.configure_optimizers()
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    wanted = {id(p) for n, p in model.named_parameters() if n in set(trained_parameter_names(model, policy))}
    assert held == wanted
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["hq"] == 1e-3
    if policy == "hq+decoder":
        assert lrs["decoder"] == pytest.approx(1e-4)


@pytest.mark.parametrize("policy", ["hq+decoder", "hq+lora", "full"])
def test_training_changes_only_what_the_policy_trains(tmp_path, data_root, policy):
    _, objects = train(compose_cfg(
        tmp_path, data_root, f"model.policy={policy}", "debug=fdr", "export=false",
    ))
    trained = objects["model"]
    base = build_sam_hq("vit_demo", seed=0, policy=policy)
    names = set(trained_parameter_names(trained, policy))
    after, before = trained.state_dict(), base.state_dict()
    assert set(after) == set(before)
    frozen = [k for k in before if k not in names]
    assert frozen and all(torch.equal(after[k], before[k]) for k in frozen)
    assert any(not torch.equal(after[k], before[k]) for k in names)


def test_lora_export_is_merged_and_equals_the_adapter_model(tmp_path):
    model = build_sam_hq("vit_demo", seed=0, policy="hq+lora")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(0, 0.05)
    images = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 255
    boxes = torch.tensor([[[20.0, 30.0, 150.0, 200.0]]])
    with torch.no_grad():
        want, _ = model(images, boxes=boxes)
        for fmt, name in [("sam_hq", "m.pth"), ("safetensors", "m.safetensors")]:
            path = save_checkpoint(model, tmp_path / name, fmt)
            loaded = load_checkpoint(path)
            assert not any(is_lora_key(k) for k in loaded.state_dict())
            got, _ = loaded(images, boxes=boxes)
            assert (got - want).abs().max() < 1e-5
    assert any(is_lora_key(k) for k in model.state_dict())  # merging worked on a copy


def test_lora_training_checkpoint_rebuilds_the_adapter_model(tmp_path, data_root):
    _, objects = train(compose_cfg(
        tmp_path, data_root, "model.policy=hq+lora", "trainer.max_epochs=1",
        "trainer.limit_train_batches=1", "validate_before_training=false", "export=false",
    ))
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    loaded = load_checkpoint(ckpt)
    want = objects["model"].state_dict()
    assert set(loaded.state_dict()) == set(want)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in want.items())
    # samhq-export's way: the delta of a training checkpoint holds what its policy trained
    from samhq_train.inference import export_model
    from samhq_train.model import policy_of, read_provenance, read_state_dict

    policy = policy_of(read_provenance(ckpt))
    assert policy.name == "hq+lora" and policy.lora.rank == 8
    paths = export_model(loaded, tmp_path / "exported", ["delta", "sam_hq"], policy=policy)
    delta, _ = read_state_dict(paths["delta"])
    assert {key_kind(k) for k in delta} == {"hq", "lora"}
    full, _ = read_state_dict(paths["sam_hq"])
    assert not any(is_lora_key(k) for k in full)


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.policy=everything", "model.policy=everything: expected one of hq, hq\\+decoder"),
        ("model.lora.rank=0", "model.lora.rank=0: expected an integer >= 1"),
        ("model.lora.rank=1000", "model.lora: LoRA rank 1000 exceeds"),
        ("model.lora.targets=[image_encoder.nothing.*]", "model.lora: .*image_encoder.nothing"),
    ],
)
def test_bad_policy_settings_are_one_line_before_any_weights(tmp_path, data_root, override, message):
    cfg = compose_cfg(tmp_path, data_root, "model.policy=hq+lora", override,
                      "model=vit_b", f"model.checkpoint={tmp_path}/never_read.pth")
    with pytest.raises(SetupError, match=message):
        train(cfg)


def test_policy_record_round_trips():
    policy = TrainablePolicy.from_config("hq+lora", lora={"rank": 4, "targets": ["image_encoder.blocks.*.attn.qkv"]})
    assert TrainablePolicy.from_config(**policy.to_dict()) == policy


@pytest.mark.parametrize("policy", POLICIES)
def test_delta_export_holds_exactly_the_policy_tensors_and_reapplies(tmp_path, policy):
    from samhq_train.model import read_state_dict

    base_file = save_checkpoint(build_sam_hq("vit_demo", seed=0), tmp_path / "base.pth", "sam_hq")
    trained = build_sam_hq("vit_demo", seed=0, policy=policy)
    with torch.no_grad():  # "train": move every trained tensor
        for param in trained.parameters():
            if param.requires_grad:
                param.add_(0.01)
    path = save_checkpoint(trained, tmp_path / "delta.safetensors", "delta", policy=policy)
    state, format = read_state_dict(path)
    assert format == "delta"
    assert set(state) == set(trained_parameter_names(trained, policy))
    kinds = {key_kind(k) for k in state}
    assert kinds == {"hq": {"hq"}, "hq+decoder": {"hq", "mask_decoder"}, "hq+lora": {"hq", "lora"},
                     "full": {"hq", "image_encoder", "prompt_encoder", "mask_decoder"}}[policy]
    with pytest.raises(Exception, match="holds only the parameters a run trained"):
        load_checkpoint(path)
    loaded = load_checkpoint(path, base_checkpoint=base_file)
    assert set(loaded.state_dict()) == set(trained.state_dict())
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in trained.state_dict().items())


def test_grad_checkpointing_is_set_from_config(tmp_path, data_root):
    _, objects = train(compose_cfg(
        tmp_path, data_root, "model.policy=full", "model.grad_checkpointing=true", "debug=fdr", "export=false",
    ))
    assert objects["model"].image_encoder.grad_checkpointing is True
