"""Mutation audit (round 23) of model.formats.sam3_file_keys: a full SAM 3 file saved as
safetensors tells its key names from its header, as the torch file does from its state dict."""

import pytest
import torch

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.model.formats import inspect, sam3_file_keys

SAM3_DEMO = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"


@pytest.mark.skipif(not SAM3_DEMO.exists(), reason="the shipped SAM 3 demo base is absent")
def test_a_safetensors_sam3_file_tells_its_keys(tmp_path):
    from safetensors.torch import save_file

    state = torch.load(SAM3_DEMO, map_location="cpu", weights_only=True)
    path = tmp_path / "sam3.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    found = sam3_file_keys(inspect(path))
    assert found is not None and found[0] == path
    assert sorted(found[1]) == sorted(state)
