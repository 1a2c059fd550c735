"""hq+decoder and full train parameters that a step may not reach (SAM's own mask heads under the
HQ loss, the embeddings of prompt kinds a batch lacks, SAM 2.1's / SAM 3's video parts): DDP with
find_unused_parameters=false stopped at their second step ("parameters that were not used in
producing the loss"). Their runs (image training, video fine-tuning) now turn the search on (a
2-step full-policy run under DDP: test_ddp_small_eval_set.py's runs)."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from samhq_train.model import POLICIES, Provenance, build_sam_hq, reaches_every_parameter
from samhq_train.training.ddp_settings import ddp_settings_for
from samhq_train.training.module import SamHQModule

ROOT = Path(__file__).resolve().parents[2]


def unreached(variant: str, policy: str) -> list[str]:
    """The policy's parameters one box-prompted training step leaves without a gradient."""
    model = build_sam_hq(variant, seed=0, policy=policy)
    module = SamHQModule(
        model, optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
        provenance=Provenance(variant=variant, policy=policy), sam_baseline=False,
    )
    module.train()
    module.log = module.log_dict = lambda *args, **kwargs: None  # no trainer to log to
    s = model.image_size
    target = torch.zeros(2, 1, s, s)
    target[:, :, s // 4 : s // 2, s // 4 : s // 2] = 255
    batch = {
        "image": torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(0)) * 255,
        "mask": target,
        "boxes": torch.tensor([[0.2, 0.2, 0.7, 0.8], [0.1, 0.3, 0.5, 0.9]]) * s,
        "prompt_type": ["box", "box"],
    }
    torch.manual_seed(0)
    module.training_step(batch, 0).backward()
    return [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


@pytest.mark.parametrize("variant", ["vit_demo", "sam2.1_hq_hiera_demo"])
@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "hq+lora"])
def test_reaches_every_parameter_says_what_a_step_does(variant, policy):
    assert (not unreached(variant, policy)) == reaches_every_parameter(policy)


def test_only_ddp_without_the_search_changes():
    ddp = OmegaConf.create({"strategy": {"_target_": "DDPStrategy",
                                         "find_unused_parameters": False}, "devices": 2})
    for policy in POLICIES:
        settings = ddp_settings_for(ddp, policy)
        assert settings.strategy.find_unused_parameters is not reaches_every_parameter(policy)
        assert settings.devices == 2
    assert ddp.strategy.find_unused_parameters is False  # the run's own settings kept
    single = OmegaConf.create({"strategy": "auto"})
    assert ddp_settings_for(single, "full") == single
