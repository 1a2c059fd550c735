"""SAM 2's memory encoder against Meta's sam2 1.1.0 modules on shapes the official configs do
not use (mutation audit round 5): a mask downsampler of stride 4 (two stages to 16), a fuser
without depth-wise convolutions, memory narrower than the features (out_proj); and the
downsampler's refusal of a stride that does not reach 16."""

import pytest
import torch

from samhq_train.model.sam2.memory import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
from tests.reference import randomize_

pytest.importorskip("sam2")
from sam2.modeling import memory_encoder as meta  # noqa: E402
from sam2.modeling.position_encoding import PositionEmbeddingSine  # noqa: E402


def test_a_stride_that_does_not_reach_16_is_refused():
    with pytest.raises(ValueError, match="stride 3 does not reach total_stride 16"):
        MaskDownSampler(embed_dim=8, kernel_size=3, stride=3, padding=1)


@pytest.mark.parametrize("stride, use_dwconv", [(4, False), (2, True)])
def test_memory_encoder_equals_metas(stride, use_dwconv):
    in_dim, out_dim = 32, 16
    ours = MemoryEncoder(
        in_dim=in_dim, out_dim=out_dim,
        mask_downsampler=MaskDownSampler(embed_dim=in_dim, kernel_size=3, stride=stride,
                                         padding=1),
        fuser=Fuser(num_layers=2, dim=in_dim, kernel_size=7, padding=3, use_dwconv=use_dwconv),
    )
    theirs = meta.MemoryEncoder(
        out_dim=out_dim,
        mask_downsampler=meta.MaskDownSampler(embed_dim=in_dim, kernel_size=3, stride=stride,
                                              padding=1),
        fuser=meta.Fuser(meta.CXBlock(dim=in_dim, kernel_size=7, padding=3,
                                      use_dwconv=use_dwconv), num_layers=2),
        position_encoding=PositionEmbeddingSine(num_pos_feats=out_dim, normalize=True),
        in_dim=in_dim,
    )
    randomize_(ours, seed=4, scale=0.3)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(5)
    features = torch.randn(2, in_dim, 8, 8, generator=gen)
    masks = torch.randn(2, 1, 128, 128, generator=gen)
    with torch.no_grad():
        memory, pos = ours(features, masks)
        expected = theirs(features, masks, skip_mask_sigmoid=True)
    assert memory.shape == (2, out_dim, 8, 8)
    # 1.7e-5 at 2 of 2,048 values on an AVX2-only CPU (0 to 1e-5 elsewhere)
    torch.testing.assert_close(memory, expected["vision_features"], atol=5e-5, rtol=1e-5)
    torch.testing.assert_close(pos, expected["vision_pos_enc"][0], atol=1e-5, rtol=1e-5)


def test_cx_block_layer_scale_and_residual():
    """gamma scales the branch (a zero gamma gives the input back)."""
    block = randomize_(CXBlock(dim=8, kernel_size=7, padding=3, use_dwconv=True), seed=1)
    x = torch.randn(1, 8, 6, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        block.gamma.zero_()
        assert torch.equal(block(x), x)


def test_closest_cond_frames_equals_metas_selection():
    """tracking.closest_cond_frames against Meta's select_closest_cond_frames on random
    conditioning frames (the frame itself among them or not), limits -1 and 2 to 5: the same
    frames in the same order, selected and unselected."""
    import random

    from sam2.modeling.sam2_utils import select_closest_cond_frames

    from samhq_train.model.sam2.tracking import closest_cond_frames

    rng = random.Random(0)
    cases = 0
    for _ in range(400):
        cond = {t: object() for t in rng.sample(range(30), rng.randint(1, 8))}
        frame, limit = rng.randrange(30), rng.choice([-1, 2, 3, 4, 5])
        ours = closest_cond_frames(frame, cond, limit)
        theirs = select_closest_cond_frames(frame, cond, limit)
        assert [list(d.items()) for d in ours] == [list(d.items()) for d in theirs], (
            frame, sorted(cond), limit)
        cases += bool(theirs[1]) and frame in cond
    assert cases > 10  # the frame itself a conditioning frame, with some left out
