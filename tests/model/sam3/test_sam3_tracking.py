"""SAM 3's tracking step on our side: the HQ decode of a conditioning frame is the image path's HQ
decode (same embedding with no_mem_embed, same prompts, SAM + HQ masks), the video parts are
computed modules at Meta's paths, and a file without them (an image-only one, like the demo base)
loads, saves back as it was and is refused for tracking with one clear error. The full video
parity against Meta's tracker is tests/inference/video/test_parity_sam3_meta.py."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from samhq_train.constants import SAM3_VIDEO_FILES
from samhq_train.errors import UserError
from samhq_train.model import load_checkpoint, save_checkpoint
from samhq_train.model.sam2.tracking import Memory, Points, TrackOutput
from samhq_train.model.sam3 import FAMILY
from samhq_train.model.sam3.model import VIDEO_PREFIXES
from samhq_train.model.sam3.tracking import Sam3Tracker, VideoPartsMissing, memory_score

from .cases import BOX, IMAGE_HW, make_image

DEMO_BASE = Path(__file__).resolve().parents[3] / "data" / "demo_base" / "sam3_hq_demo_base.pt"


@pytest.fixture
def model(meta_file):
    """The fixture's SAM 3 with random HQ parts and its objects present (score bias up)."""
    model = load_checkpoint(meta_file).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.sam_mask_decoder.named_parameters():
            if name.startswith(("hf_", "embedding_maskfeature")):
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
        model.sam_mask_decoder.pred_obj_score_head.layers[2].bias += 4.0
    return model


@pytest.mark.parametrize("use_hq", [True, False])
def test_conditioning_frame_is_the_image_path_decode(model, use_hq):
    image = torch.from_numpy(make_image()).permute(2, 0, 1)[None].float()
    s = model.image_size
    image = torch.nn.functional.interpolate(image, (s, s), mode="bilinear", antialias=True)
    box = torch.tensor(BOX, dtype=torch.float32) / torch.tensor(IMAGE_HW[::-1] * 2) * s
    tracker = Sam3Tracker(model, use_hq=use_hq)
    with torch.no_grad():
        features = tracker.frame_features(image)
        out = tracker.track_step(
            0, is_init_cond_frame=True, features=features,
            points=Points(box.reshape(1, 2, 2), torch.tensor([[2, 3]], dtype=torch.int32)),
            mask=None, memory=Memory(), num_frames=3,
        )
        masks, _ = model.decode(
            model.encode(image), boxes=box.reshape(1, 1, 4), multimask_output=False,
            hq_token_only=False, use_hq=use_hq,
        )
    assert (out.object_score_logits > 0).all()
    assert out.pred_masks.shape == masks[0].shape == (1, 1, 64, 64)
    assert torch.equal(out.pred_masks, masks[0])  # the same operations: bit for bit
    assert out.memory.shape == (1, 16, 16, 16)  # the memory map is the 16 x 16 token grid


def test_video_parts_are_computed_at_metas_paths(model):
    params = dict(model.named_parameters())
    assert model.memory_attention is model.tracker.transformer.encoder
    assert "tracker.transformer.encoder.layers.0.cross_attn_image.k_proj.weight" in params
    assert "tracker.maskmem_backbone.fuser.layers.0.gamma" in params
    assert model.mem_dim == 16 and model.tracking.max_cond_frames_in_attn == 4


@pytest.mark.skipif(not DEMO_BASE.exists(), reason="the shipped SAM 3 demo base is absent")
def test_an_image_only_file_loads_saves_back_and_cannot_track(tmp_path):
    model = load_checkpoint(DEMO_BASE)
    state = torch.load(DEMO_BASE, map_location="cpu", weights_only=True)
    assert not any(k.startswith(VIDEO_PREFIXES) for k in model.state_dict())
    exported = torch.load(save_checkpoint(model, tmp_path / "x.pt", "sam_hq"), weights_only=True)
    assert {k for k in exported if not FAMILY.is_hq_key(k)} == set(state)
    with pytest.raises(VideoPartsMissing, match="maskmem_backbone") as err:
        Sam3Tracker(model)
    assert isinstance(err.value, UserError) and str(err.value).endswith(f"load {SAM3_VIDEO_FILES}")


@pytest.mark.parametrize("reverse", [False, True])
def test_memory_selection_picks_metas_frames(model, reverse):
    """Sam3Tracker's frame choice for memory selection equals Meta's frame_filter on random
    quality scores (some below the threshold, some frames missing or conditioning)."""
    sam3 = pytest.importorskip("sam3.model.sam3_tracker_base")
    tracker = Sam3Tracker(model, memory_selection=True)
    meta_self = SimpleNamespace(
        max_obj_ptrs_in_encoder=tracker.cfg.max_obj_ptrs_in_encoder, mf_threshold=0.01
    )
    gen = torch.Generator().manual_seed(1)
    checked = 0
    for num_frames in (6, 25):
        for _ in range(20):
            scores = torch.rand(num_frames, generator=gen) * 0.03  # around the threshold
            kept = torch.rand(num_frames, generator=gen) > 0.2
            outputs = {t: scores[t] for t in range(num_frames) if kept[t]}
            ours = Memory(non_cond={
                t: TrackOutput(torch.zeros(1), torch.zeros(1), torch.zeros(1), memory_score=s)
                for t, s in outputs.items()
            })
            theirs = {"non_cond_frame_outputs": {
                t: {"eff_iou_score": s} for t, s in outputs.items()
            }}
            for frame in range(num_frames):
                expected = sam3.Sam3TrackerBase.frame_filter(
                    meta_self, theirs, reverse, frame, num_frames, 1
                )
                assert tracker._chosen_frames(frame, ours, num_frames, reverse) == expected
                checked += len(expected)
    assert checked > 500


def test_memory_score_is_metas():
    sam3 = pytest.importorskip("sam3.model.sam3_tracker_base")
    gen = torch.Generator().manual_seed(2)
    for batch in (1, 3):
        logits = torch.randn(batch, 1, generator=gen) * 3  # some objects absent (<= 0)
        iou = torch.rand(batch, generator=gen)
        expected = sam3.Sam3TrackerBase.cal_mem_score(None, logits, iou)
        assert torch.equal(memory_score(logits, iou), expected)
