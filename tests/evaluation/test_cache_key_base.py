"""The embedding cache's key in evaluation (entry.cache_provenance) names the encoder that
is evaluated: a training checkpoint given another base than the one it records
(base_checkpoint=: used as given, its sha256 not compared) is keyed by that base, never served
the features of the recorded base's encoder; a file made on a base (its format's record says
so, hq_decoder included) is keyed by the base given."""

import pytest
import torch

from samhq_train.evaluation import entry
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import (
    LoadedCheckpoint,
    Provenance,
    build_sam_hq,
    file_sha256,
    hq_state_dict,
    save_checkpoint,
)
from tests.evaluation.eval_configs import demo_cfg, eval_cfg

VARIANT = "vit_demo"


def bases(tmp_path):
    """Two SAM-HQ files of the variant with different encoders (seeds 0 and 1)."""
    return [save_checkpoint(build_sam_hq(VARIANT, seed=seed), tmp_path / f"base{seed}.pth",
                            "sam_hq") for seed in (0, 1)]


def test_a_checkpoint_on_another_base_is_not_served_the_recorded_bases_features(
        tmp_path, data_root):
    recorded, other = bases(tmp_path)
    trained = build_sam_hq(VARIANT, seed=2)
    ckpt = tmp_path / "last.ckpt"
    record = Provenance(variant=VARIANT, base_checkpoint=str(recorded),
                        base_sha256=file_sha256(recorded))
    torch.save({"state_dict": {f"model.{k}": v for k, v in hq_state_dict(trained).items()},
                "samhq": record.to_dict()}, ckpt)

    def miou(out, *overrides):
        result = evaluate(demo_cfg(tmp_path / out, data_root, f"model.checkpoint={ckpt}",
                                   "n_worst=0", f"data.cache.dir={tmp_path / 'cache'}",
                                   *overrides))["benchmark"]
        return result["results"]["hq"]["demo-val"]["mIoU"]

    miou("recorded", "data.cache.enabled=true")  # the recorded base's entries
    on_other = [miou(f"other_{cached}", f"base_checkpoint={other}",
                     f"data.cache.enabled={cached}") for cached in ("true", "false")]
    assert on_other[0] == pytest.approx(on_other[1], abs=1e-7)


@pytest.mark.parametrize("format", ["hq_only", "delta", "hq_decoder", "lightning"])
def test_a_file_made_on_a_base_is_keyed_by_the_base_given(tmp_path, format):
    base = bases(tmp_path)[1]
    cfg = eval_cfg(tmp_path, f"model={VARIANT}", f"base_checkpoint={base}")
    loaded = LoadedCheckpoint(None, format, Provenance(variant=VARIANT))
    key = entry.cache_provenance(cfg, loaded)
    assert (key.variant, key.base_sha256) == (VARIANT, file_sha256(base))


@pytest.mark.parametrize("format", ["sam_hq", "lightning_full", None])
def test_a_whole_model_is_keyed_by_its_encoders_weights(tmp_path, format):
    cfg = eval_cfg(tmp_path, f"model={VARIANT}")
    key = entry.cache_provenance(cfg, LoadedCheckpoint(None, format, Provenance()))
    assert key == Provenance(variant=VARIANT)  # base_sha256 None: the weights' hash
