"""check_int8 through the Python API (audit 16): a model off the CPU is refused in one line (the
commands refuse --device cuda --int8 before any model, so only this path reaches the check)."""

import pytest
import torch

from samhq_train.inference.predictor import Int8Unsupported, check_int8
from samhq_train.model import build_sam_hq


def test_a_model_off_the_cpu_is_refused():
    with torch.device("meta"):
        model = build_sam_hq("vit_demo")
    with pytest.raises(Int8Unsupported, match=r"^int8: runs on the CPU only, the model is on "
                       r"meta; use the CPU$"):
        check_int8(model, None)
