"""model.formats.sam3_file_keys, the key names of a full SAM 3 weights file read from its
inspection (no model built): what the commands tell a missing concept detector or missing video
parts from. The shipped SAM 3 demo base is image-only; other families' files do not tell."""

import pytest

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.model.formats import inspect, sam3_file_keys
from samhq_train.model.sam3.model import VIDEO_PREFIXES

SAM3_DEMO = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"


@pytest.mark.skipif(not SAM3_DEMO.exists(), reason="the shipped SAM 3 demo base is absent")
def test_the_sam3_demo_base_keys_are_read_without_a_model():
    path, keys = sam3_file_keys(inspect(SAM3_DEMO))
    assert path == SAM3_DEMO
    keys = list(keys)
    assert any(k.startswith("detector.backbone.") for k in keys), keys[:5]
    assert not any(k.startswith(VIDEO_PREFIXES) for k in keys)


@pytest.mark.parametrize("name", ["vit_demo_base.safetensors", "sam2.1_hq_hiera_demo_base.pt"])
def test_another_familys_file_does_not_tell(name):
    assert sam3_file_keys(inspect(DEMO_BASE_DIR / name)) is None
