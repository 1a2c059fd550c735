"""Video tracking against Meta's sam2 1.1.0 SAM2VideoPredictor on tracking settings the
miniature's SAM 2.1 config leaves at one value (mutation audit round 5): a model whose SAM heads
are wider than its memory (each object pointer split into several memory tokens, the memory
encoder's out_proj), two heads and two layers of memory attention, a memory of 4 frames at
temporal stride 2, at most 2 conditioning frames and 4 object pointers in attention, mask prompts
through the SAM heads; the pointer options off
SAM 2.1's values (soft / additive no-object pointer, unsigned and unprojected temporal encoding,
pointers of future conditioning frames, a linear pointer projection, no temporal encoding of
the pointers, multimask output for one or two points).

Not compared: directly_add_no_mem_embed=False and use_obj_ptrs_in_encoder=False (with
pred_obj_scores): Meta's 1.1.0 predictor cannot run them (its RoPE cannot take the single
no-memory token; its object-score path needs no_obj_ptr), nor can ours.

Same random weights on both sides, independent mode (Meta 1.1.0 tracks each object on its own),
the continuous path of test_parity_meta.py (fp32 memories, binarize off), every frame's logits.
"""

import dataclasses
import types
import warnings

import numpy as np
import pytest
import torch

from samhq_train.inference.video import VideoPredictor
from samhq_train.model import without_hq
from samhq_train.model.sam2.config import VARIANTS
from samhq_train.model.sam2.family import build
from tests.reference import randomize_

from .conftest import VIDEO_HW, write_video
from .meta_features import keep_every_frames_features

pytest.importorskip("sam2")
import sam2.sam2_video_predictor  # noqa: E402
from hydra import initialize_config_module  # noqa: E402
from sam2.build_sam import build_sam2_video_predictor  # noqa: E402

from tests.model.sam2.test_meta_load import META_CONFIG, MINIATURE  # noqa: E402

ATOL = 1e-4
NUM_FRAMES = 8
WIDE = 128  # the SAM heads' width; the memory stays 64 wide


def shapes(wide: int = WIDE) -> tuple[dict, list[str]]:
    """(our config part, field) -> value, and Meta's overrides of the same shapes."""
    ours = {
        ("neck", "d_model"): wide, ("neck", "num_pos_feats"): wide,
        ("memory", "encoder_in_dim"): wide, ("memory", "downsampler_embed_dim"): wide,
        ("memory", "fuser_dim"): wide, ("memory", "attention_layers"): 2,
        ("memory", "attention_num_heads"): 2, ("memory", "num_maskmem"): 4,
    }
    meta = [
        f"++model.image_encoder.neck.d_model={wide}",
        f"++model.image_encoder.neck.position_encoding.num_pos_feats={wide}",
        f"++model.memory_attention.d_model={wide}",
        "++model.memory_attention.num_layers=2",
        f"++model.memory_attention.layer.d_model={wide}",
        f"++model.memory_attention.layer.self_attention.embedding_dim={wide}",
        f"++model.memory_attention.layer.cross_attention.embedding_dim={wide}",
        "++model.memory_attention.layer.self_attention.num_heads=2",
        "++model.memory_attention.layer.cross_attention.num_heads=2",
        f"++model.memory_encoder.in_dim={wide}",
        f"++model.memory_encoder.mask_downsampler.embed_dim={wide}",
        f"++model.memory_encoder.fuser.layer.dim={wide}",
        "++model.num_maskmem=4",
    ]
    return ours, meta


COMMON = {
    "max_cond_frames_in_attn": 2, "memory_temporal_stride_for_eval": 2,
    "max_obj_ptrs_in_encoder": 4, "binarize_mask_from_pts_for_mem_enc": False,
}
OPTIONS = {
    "memory-limits": {"use_mask_input_as_output_without_sam": False},
    "pointer-options": {"soft_no_obj_ptr": True, "fixed_no_obj_ptr": False,
                        "use_signed_tpos_enc_to_obj_ptrs": False,
                        "only_obj_ptrs_in_the_past_for_eval": False,
                        "proj_tpos_enc_in_obj_ptrs": False, "use_mlp_for_obj_ptr_proj": False,
                        "no_obj_embed_spatial": False, "multimask_output_for_tracking": False,
                        "pointer_gain": 10.0},
    # object pointers 30 times louder (the last layer of obj_ptr_proj): at the scale of the
    # other cases a pointer moves the logits by ~1e-6, below ATOL
    # (and the pointers of conditioning frames ahead, at signed distances)
    "loud-pointers": {"pointer_gain": 10.0, "only_obj_ptrs_in_the_past_for_eval": False},
    "pointers-without-tpos": {"add_tpos_enc_to_obj_ptrs": False,
                              "proj_tpos_enc_in_obj_ptrs": False, "multimask_min_pt_num": 1,
                              "multimask_max_pt_num": 2},
}
MEMORY_OPTIONS = ("use_obj_ptrs_in_encoder", "use_mlp_for_obj_ptr_proj",
                  "proj_tpos_enc_in_obj_ptrs", "no_obj_embed_spatial")
# (frame, object, prompt): object 1 on three frames (more than max_cond_frames_in_attn: frame 3
# attends to 2 and 6, and finds the unselected 0 among its memories and pointers; on frame 2 a box
# with a point), object 2 a mask then points; a correction after propagation
PROMPTS = [
    (0, 1, dict(points=[[30.0, 35.0], [100.0, 80.0]], labels=[1, 0])),
    (2, 2, dict(mask_box=(70, 40, 110, 80))),
    (2, 1, dict(box=[25.0, 15.0, 65.0, 55.0], points=[[40.0, 30.0]], labels=[0])),
    (6, 2, dict(points=[[90.0, 75.0]], labels=[1])),
    (6, 1, dict(points=[[60.0, 30.0]], labels=[1])),
]
CORRECTION = (3, 2, dict(points=[[95.0, 70.0]], labels=[0]))


def our_model(settings: dict):
    base = VARIANTS["sam2.1_hq_hiera_demo"]
    parts = {"neck": base.neck, "memory": base.memory}
    for (part, name), value in shapes()[0].items():
        parts[part] = dataclasses.replace(parts[part], **{name: value})
    memory = {k: v for k, v in settings.items() if k in MEMORY_OPTIONS}
    tracking = {k: v for k, v in settings.items()
                if k not in (*MEMORY_OPTIONS, "pointer_gain")}
    cfg = dataclasses.replace(
        base, neck=parts["neck"], memory=dataclasses.replace(parts["memory"], **memory),
        tracking=dataclasses.replace(base.tracking, **tracking),
    )
    model = randomize_(build(cfg), seed=3).eval()
    proj = model.obj_ptr_proj  # an MLP, or one Linear (use_mlp_for_obj_ptr_proj=False)
    with torch.no_grad():
        getattr(proj, "layers", [proj])[-1].weight.mul_(settings.get("pointer_gain", 1.0))
    return model


def meta_predictor(ours, settings: dict):
    meta_shapes = shapes()[1]
    kept = {o.split("=")[0] for o in meta_shapes}
    overrides = [o for o in MINIATURE if o.split("=")[0] not in kept] + meta_shapes
    overrides += [f"++model.{k}={str(v).lower()}" for k, v in settings.items()
                  if k != "pointer_gain"]
    with initialize_config_module("sam2", version_base="1.2"):
        meta = build_sam2_video_predictor(
            META_CONFIG, device="cpu", hydra_overrides_extra=overrides
        )
    meta.load_state_dict(without_hq(ours.state_dict()), strict=True)
    meta.fill_hole_area = 0
    meta.binarize_mask_from_pts_for_mem_enc = False
    keep_every_frames_features(meta)
    return meta.eval()


def box_mask(box):
    x0, y0, x1, y1 = box
    mask = np.zeros(VIDEO_HW, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def run_meta(meta, video_dir, prompts=PROMPTS, correction=CORRECTION):
    def add(frame, obj, prompt):
        if "mask_box" in prompt or "large_mask" in prompt:
            mask = prompt.get("large_mask", None)
            mask = box_mask(prompt["mask_box"]) if mask is None else mask
            return meta.add_new_mask(state, frame, obj, mask)[2]
        kwargs = {k: np.array(v, dtype=np.int32 if k == "labels" else np.float32)
                  for k, v in prompt.items()}
        return meta.add_new_points_or_box(state, frame, obj, **kwargs)[2]

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = meta.init_state(str(video_dir))
        for frame, obj, prompt in prompts:
            out[("prompt", frame, obj)] = add(frame, obj, prompt)
        for reverse in (False, True):
            for frame, ids, masks in meta.propagate_in_video(state, reverse=reverse):
                out[(reverse, frame)] = (ids, masks)
        out[("prompt", "again")] = add(*correction)
        for frame, ids, masks in meta.propagate_in_video(state):
            out[("again", frame)] = (ids, masks)
    return out


def run_ours(model, video_dir, prompts=PROMPTS, correction=CORRECTION):
    predictor = VideoPredictor(
        model, use_hq=False, objects="independent", fill_hole_area=0, memory_dtype=torch.float32
    )
    predictor.set_video(video_dir)

    def add(frame, obj, prompt):
        if "mask_box" in prompt or "large_mask" in prompt:
            mask = prompt.get("large_mask", None)
            mask = box_mask(prompt["mask_box"]) if mask is None else mask
            return predictor.add_mask(frame, obj, mask)[2]
        return predictor.add_points_or_box(frame, obj, **prompt)[2]

    out = {}
    for frame, obj, prompt in prompts:
        out[("prompt", frame, obj)] = add(frame, obj, prompt)
    for reverse in (False, True):
        for frame, ids, masks in predictor.propagate(reverse=reverse):
            out[(reverse, frame)] = (ids, masks)
    out[("prompt", "again")] = add(*correction)
    for frame, ids, masks in predictor.propagate():
        out[("again", frame)] = (ids, masks)
    return out


@pytest.fixture
def fp32_memory_in_meta(monkeypatch):
    """As test_parity_meta's fixture of the same name: Meta's memories stored in fp32."""
    names = [k for k in dir(torch) if not k.startswith("__")]
    proxy = types.SimpleNamespace(**{k: getattr(torch, k) for k in names})
    proxy.bfloat16 = torch.float32
    monkeypatch.setattr(sam2.sam2_video_predictor, "torch", proxy)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("frames"), num_frames=NUM_FRAMES)


@pytest.fixture(scope="module")
def models():
    """settings -> (our model, Meta's predictor on its weights), each pair built once here: the
    tests share settings (COMMON in six, memory-limits in two), and every run starts its own
    inference state (init_state, set_video) on models left unchanged."""
    built = {}

    def pair(settings: dict):
        key = tuple(sorted(settings.items()))
        if key not in built:
            model = our_model(settings)
            built[key] = model, meta_predictor(model, settings)
        return built[key]

    return pair


@pytest.mark.parametrize("name", list(OPTIONS))
def test_tracking_options_match_meta_predictor(name, long_video, models, fp32_memory_in_meta):
    model, meta = models({**COMMON, **OPTIONS[name]})
    assert model.mem_dim < model.sam_prompt_encoder.embed_dim  # pointers split, out_proj used
    theirs = run_meta(meta, long_video)
    ours = run_ours(model, long_video)
    worst, present, absent = compare(theirs, ours)
    print(f"{name}: max |diff| {worst:.2e} ({present} object-frames found, {absent} not)")
    assert present >= 8, "objects found too rarely: a trivial comparison"
    assert worst < ATOL


def compare(theirs: dict, ours: dict) -> tuple[float, int, int]:
    """(largest |difference| of any output's logits, object-frames found, not found)."""
    assert theirs.keys() == ours.keys()
    worst, present, absent = 0.0, 0, 0
    for key, value in theirs.items():
        if key[0] == "prompt":
            a, b = value, ours[key]
        else:
            assert value[0] == ours[key][0], key
            a, b = value[1], ours[key][1]
        assert a.shape == b.shape and a.shape[-2:] == VIDEO_HW, key
        found = (a > 0).flatten(1).any(1)
        present, absent = present + int(found.sum()), absent + int((~found).sum())
        worst = max(worst, (a - b).abs().max().item())
    return worst, present, absent


@pytest.mark.parametrize(
    "window",
    [dict(start_frame=3, max_frames=2), dict(start_frame=5, max_frames=2, reverse=True),
     dict(start_frame=0, reverse=True), dict(start_frame=1, max_frames=0)],
    ids=["forward-2", "reverse-2", "reverse-from-0", "none-more"],
)
def test_start_frame_and_max_frames_match_meta_predictor(
    window, long_video, models, fp32_memory_in_meta
):
    """propagate(start_frame, max_frames, reverse) tracks the frames Meta's propagate_in_video
    (start_frame_idx, max_frame_num_to_track) does, with the same masks."""
    model, meta = models(COMMON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = meta.init_state(str(long_video))
        meta.add_new_points_or_box(state, 0, 1, points=np.array([[30.0, 35.0]], np.float32),
                                   labels=np.array([1], np.int32))
        theirs = list(meta.propagate_in_video(
            state, start_frame_idx=window["start_frame"],
            max_frame_num_to_track=window.get("max_frames"), reverse=window.get("reverse", False),
        ))
    predictor = VideoPredictor(
        model, use_hq=False, objects="independent", fill_hole_area=0, memory_dtype=torch.float32
    )
    predictor.set_video(long_video)
    predictor.add_points_or_box(0, 1, points=[[30.0, 35.0]], labels=[1])
    ours = list(predictor.propagate(**window))
    assert [f for f, _, _ in ours] == [f for f, _, _ in theirs]
    for (_, ids, a), (_, their_ids, b) in zip(ours, theirs):
        assert ids == list(their_ids)
        assert (a - b).abs().max().item() < ATOL


@pytest.mark.parametrize("name", ["sam2.1-settings", "memory-limits"])
def test_a_correction_on_a_conditioning_frame_matches_meta(name, long_video, models,
                                                          fp32_memory_in_meta):
    """Object 1's frame 2 (a box, a conditioning frame) clicked again after propagation."""
    settings = {"binarize_mask_from_pts_for_mem_enc": False}
    if name == "memory-limits":
        settings = {**COMMON, **OPTIONS[name]}
    model, meta = models(settings)
    correction = (2, 1, dict(points=[[50.0, 30.0]], labels=[0]))
    theirs = run_meta(meta, long_video, correction=correction)
    ours = run_ours(model, long_video, correction=correction)
    worst, present, _ = compare(theirs, ours)
    assert present >= 8
    assert worst < ATOL, f"max |diff| {worst:.2e}"


def test_a_new_object_after_propagation_matches_meta(long_video, models, fp32_memory_in_meta):
    """Independent mode takes a new object after propagation, as Meta 1.1.0 does (its
    _obj_id_to_idx always allows one): object 5 clicked on frame 3, then propagated again."""
    model, meta = models(COMMON)
    new_object = (3, 5, dict(points=[[95.0, 70.0]], labels=[1]))
    theirs = run_meta(meta, long_video, correction=new_object)
    ours = run_ours(model, long_video, correction=new_object)
    worst, present, _ = compare(theirs, ours)
    assert ours[("again", 4)][0] == [1, 2, 5] and present >= 8
    assert worst < ATOL, f"max |diff| {worst:.2e}"


def test_a_large_mask_prompt_matches_meta(long_video, models, fp32_memory_in_meta):
    """Masks larger than the model's 256, resized with antialiasing as Meta's add_new_mask: a
    512 x 512 one halved (a block of odd offset and width gives pixels of exactly 0.5, which are
    object: >= 0.5), a 768 x 768 one of one-pixel lines every third column (a third of each
    output pixel: background, where a resize without antialiasing would sample the lines)."""
    model, meta = models(COMMON)
    large = np.zeros((512, 512), dtype=bool)
    large[101:301, 51:251] = True
    lines = np.zeros((768, 768), dtype=bool)
    lines[150:450, 400:700:3] = True
    lines[150:450, 200:350] = True
    prompts = [(0, 1, dict(large_mask=large)), (2, 2, dict(large_mask=lines)), *PROMPTS[2:]]
    theirs = run_meta(meta, long_video, prompts)
    ours = run_ours(model, long_video, prompts)
    worst, present, _ = compare(theirs, ours)
    assert present >= 8
    assert worst < ATOL, f"max |diff| {worst:.2e}"
