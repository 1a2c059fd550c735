"""The kept inference constants are not carried by copies (mutation audit round 5): a deep copy
or a pickled copy of an encoder starts with empty caches while the original keeps its own, and
the copy's outputs are still the original's bit for bit."""

import copy
import pickle

import torch

from samhq_train.model import build_sam_hq
from tests.reference import randomize_


def test_copies_start_with_empty_caches():
    encoder = randomize_(build_sam_hq("sam2.1_hq_hiera_demo", seed=0).image_encoder.eval(), seed=1)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = encoder(x)
    kept = (len(encoder.trunk._constants), len(encoder.neck._constants))
    assert min(kept) > 0
    for duplicate in (copy.deepcopy(encoder), pickle.loads(pickle.dumps(encoder))):
        assert len(duplicate.trunk._constants) == len(duplicate.neck._constants) == 0
        assert duplicate.trunk._constants is not encoder.trunk._constants
        with torch.inference_mode():
            out = duplicate(x)
        for a, b in zip([*out[0], *out[1]], [*expected[0], *expected[1]]):
            assert torch.equal(a, b)
    assert (len(encoder.trunk._constants), len(encoder.neck._constants)) == kept


def test_same_size_under_and_outside_autocast():
    """The same input size in fp32, then under bf16 autocast, then fp32 again: each output is a
    fresh encoder's bit for bit (a constant kept outside autocast is not served inside it)."""
    encoder = randomize_(build_sam_hq("sam2.1_hq_hiera_demo", seed=0).image_encoder.eval(), seed=1)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for bf16 in (False, True, False):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            expected = copy.deepcopy(encoder)(x)
            out = encoder(x)
        for a, b in zip([*out[0], *out[1]], [*expected[0], *expected[1]]):
            assert a.dtype == b.dtype and torch.equal(a, b), bf16
