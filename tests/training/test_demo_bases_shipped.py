"""Every family's shipped demo base (data/demo_base/): the file its README names (sha256), small,
and loaded through its conf/model yaml as the demo loads it."""

import re

import pytest

from samhq_train.model import FAMILIES, file_sha256
from samhq_train.train import build_model
from tests.training.helpers import ROOT, compose_cfg

BASE_DIR = ROOT / "data" / "demo_base"
# conf/model yaml -> (variant, whether the HQ decoder has early fusion)
BASES = {
    "vit_demo_base": ("vit_demo_base", False),
    "sam2.1_hq_hiera_demo_base": ("sam2.1_hq_hiera_demo", False),
    "sam3_hq_demo_base": ("sam3_hq_demo", False),
    "sam3_hq_ef_demo_base": ("sam3_hq_ef_demo", True),
}


def recorded_sha256(name: str) -> str:
    """The sha256 data/demo_base/README.md gives for the file `name` (the first after its name)."""
    readme = (BASE_DIR / "README.md").read_text()
    at = readme.index(f"`{name}`")
    return re.search(r"\b[0-9a-f]{64}\b", readme[at:]).group(0)


@pytest.mark.parametrize("yaml", sorted(BASES))
def test_shipped_base_matches_its_readme_and_loads_through_its_yaml(tmp_path, yaml):
    cfg = compose_cfg(tmp_path, tmp_path, f"model={yaml}", small=False)
    variant, early_fusion = BASES[yaml]
    assert cfg.model.variant == variant and cfg.model.seed is None
    path = ROOT / cfg.model.checkpoint
    assert path.parent == BASE_DIR and path.stat().st_size < 8 * 2**20
    assert file_sha256(path) == recorded_sha256(path.name)
    model, provenance = build_model(cfg.model)
    assert provenance.base_sha256 == file_sha256(path)
    assert getattr(model, "early_fusion", False) is early_fusion
    family = FAMILIES[model.family]
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all(family.is_hq_key(n) for n in trained)  # the demo trains the HQ parts
