"""A training checkpoint that records its base file: that file is used and checked by its
sha256 (a changed file is refused, naming it), and a base given explicitly wins over the
recorded one (also to use a changed file on purpose)."""

import pytest
import torch

from samhq_train.model import CheckpointError, build_sam_hq, file_sha256, load_checkpoint
from samhq_train.model.formats import hq_state_dict

from .test_checkpoints import is_hq_key


def base_file(path, seed):
    model = build_sam_hq("vit_demo", seed=seed)
    torch.save({k: v for k, v in model.state_dict().items() if not is_hq_key(k)}, path)
    return model


def without_hq(model):
    return {k: v for k, v in model.state_dict().items() if not is_hq_key(k)}


def test_the_recorded_base_is_checked_and_an_explicit_one_wins(tmp_path):
    base_a = base_file(tmp_path / "a.pth", seed=1)
    base_b = base_file(tmp_path / "b.pth", seed=2)
    trained = build_sam_hq("vit_demo", seed=1)
    with torch.no_grad():
        trained.mask_decoder.hf_token.weight.add_(1.0)
    ckpt = {
        "state_dict": {f"model.{k}": v for k, v in hq_state_dict(trained).items()},
        "samhq": {
            "variant": "vit_demo",
            "base_checkpoint": str(tmp_path / "a.pth"),
            "base_sha256": file_sha256(tmp_path / "a.pth"),
            "seed": None,
        },
    }
    torch.save(ckpt, tmp_path / "last.ckpt")

    def assert_model(model, base):
        state = model.state_dict()
        assert all(torch.equal(state[k], v) for k, v in without_hq(base).items())
        assert all(torch.equal(state[k], v) for k, v in hq_state_dict(trained).items())

    assert_model(load_checkpoint(tmp_path / "last.ckpt"), base_a)
    assert_model(
        load_checkpoint(tmp_path / "last.ckpt", base_checkpoint=tmp_path / "b.pth"), base_b
    )
    (tmp_path / "a.pth").write_bytes((tmp_path / "b.pth").read_bytes())  # the base changed
    with pytest.raises(CheckpointError, match=r"a\.pth is not the file .*sha256 differs"):
        load_checkpoint(tmp_path / "last.ckpt")
    explicit = load_checkpoint(tmp_path / "last.ckpt", base_checkpoint=tmp_path / "a.pth")
    assert_model(explicit, base_b)
