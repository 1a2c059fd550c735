"""SAM 3 / HQ-SAM 3 video training against Meta's SAM 3 tracker in training mode: our ClipForward
on a Sam3HQ and Meta's Sam3TrackerBase.forward_tracking (meta_sam3_train.py: the step sam3 0.1.4
leaves out supplied from SAM2Train) on the same random miniature (build_tracker's settings, our
model loaded from its sam3.pt layout), same clip, plan and random streams, fp32, training mode:
every frame's multistep masks, IoUs and object scores, the loss terms (our MultiStepMaskLoss
against sam2's MultiStepMultiMasksAndIous on Meta's outputs) and every trainable tensor's
gradient.

HQ-SAM 3 has no official code: Meta's tracker with its decoder swapped for an adapter running our
MaskDecoderHQ with hq_token_only=False (as the video inference parity test does). Cases: mask,
box and click prompts with correction clicks; one with six conditioning frames (Meta's
max_cond_frames_in_attn = 4 picks the closest); teacher-forced object scores on mask and point
clips. For those the object scores are biased below 0 (the decoder calls every object absent,
so only teacher forcing keeps the masks and pointers), and an object leaves the clip on frame 2.
"""

import numpy as np
import pytest
import torch

from samhq_train.model import load_checkpoint
from samhq_train.training.video import ClipForward, MultiStepMaskLoss, plan_clip
from samhq_train.video_settings import ClipPromptSettings

pytest.importorskip("sam2")
pytest.importorskip("sam3")
from tests.training.video.test_parity_sam2train import meta_multistep_loss  # noqa: E402, I001
from tests.inference.video.test_parity_sam3_meta import DecoderAdapter  # noqa: E402
from tests.model.sam3.meta_tracker import build_meta_tracker, cpu_only  # noqa: E402

from .meta_sam3_train import forward_tracking, to_training_reference  # noqa: E402

ATOL = 1e-5  # outputs and losses (relative to their scale, at least 1)
# relative to the largest gradient of each tensor (and at least this): the six-conditioning-frame
# HQ case (18 decodes) reaches 2.2e-5 on a decoder MLP weight whose largest entry is 0.13 (the
# model's largest gradient is 24); fp32 rounding alone moves this forward further: one thread
# against two changes our own side's clicks
ATOL_GRAD = 5e-5
NUM_FRAMES, NUM_OBJECTS, SIZE = 6, 2, 224
CASES = {  # name: (prompt settings, teacher-forced object scores, seed)
    "mask": (ClipPromptSettings(prob_to_use_pt_input=0.0, num_init_cond_frames=2), False, 3),
    "box": (ClipPromptSettings(prob_to_use_pt_input=1.0, prob_to_use_box_input=1.0,
                               num_correction_pt_per_frame=2, prob_to_sample_from_gt=0.0),
            False, 0),
    "clicks_6_cond": (ClipPromptSettings(prob_to_use_pt_input=1.0, prob_to_use_box_input=0.0,
                                         num_init_cond_frames=1, num_frames_to_correct=6,
                                         rand_frames_to_correct=False,
                                         num_correction_pt_per_frame=2,
                                         prob_to_sample_from_gt=0.5), False, 1),
    "mose": (ClipPromptSettings(num_correction_pt_per_frame=2), False, 5),
    "mask_teacher_forced": (ClipPromptSettings(prob_to_use_pt_input=0.0), True, 3),
    "clicks_teacher_forced": (ClipPromptSettings(prob_to_use_pt_input=1.0,
                                                 prob_to_use_box_input=0.0,
                                                 num_correction_pt_per_frame=2), True, 1),
}


def clip(seed: int, num_frames: int = NUM_FRAMES):
    """T x 1 x 3 x S x S frames (0-255) and T x B x 1 x S x S GT: two rectangles moving, the
    second absent on frame 2."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (num_frames, 1, 3, SIZE, SIZE), generator=gen).float()
    gt = torch.zeros(num_frames, NUM_OBJECTS, 1, SIZE, SIZE, dtype=torch.bool)
    for t in range(num_frames):
        gt[t, 0, 0, 30 + 5 * t: 100 + 5 * t, 25 + 7 * t: 120 + 7 * t] = True
        if t != 2:
            gt[t, 1, 0, 130:190, 140 - 5 * t: 200 - 5 * t] = True
    return images, gt


# added to the object-score head's output bias: objects mostly present (scores above 0, not
# all NO_OBJ_SCORE masks); teacher-forced: all scored absent, the GT alone says they are there
SCORE_BIAS = {False: 1.0, True: -3.0}


def meta_tracker(score_bias: float):
    meta, state = build_meta_tracker(seed=2)
    with torch.no_grad():
        meta.sam_mask_decoder.pred_obj_score_head.layers[2].bias += score_bias
    state["tracker.sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += score_bias
    return meta, state


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Files with Meta's tracker's (random) weights in sam3.pt's layout, by SCORE_BIAS key."""
    paths = {}
    for teacher_force, bias in SCORE_BIAS.items():
        paths[teacher_force] = tmp_path_factory.mktemp("sam3") / "sam3.pt"
        torch.save(meta_tracker(bias)[1], paths[teacher_force])
    return paths


def our_model(path):
    """Ours from Meta's file, its HQ parts (not in the file) random."""
    model = load_checkpoint(path)
    meta_keys = set(torch.load(path, weights_only=True))
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name not in meta_keys:
                tensor.add_(torch.randn(tensor.shape, generator=gen) * 0.05)
        model.sam_mask_decoder.hf_mlp.layers[-1].weight.mul_(0.1)  # an HQ mask near SAM's
    return model.train().requires_grad_(True)


def meta_name(name: str) -> str:
    """Meta's tracker parameter name -> sam3.pt's (ours); the HQ adapter's are ours."""
    name = name.replace("sam_mask_decoder.decoder.", "sam_mask_decoder.")
    if name.startswith("backbone."):
        return "detector." + name
    return "tracker." + name


def flat_steps(frames) -> dict[str, torch.Tensor]:
    """Our FrameSteps -> {what: tensor} in Meta's output keys."""
    out = {}
    for t, f in enumerate(frames):
        for i in range(len(f.multimasks)):
            out[f"{t}.{i}.multimasks"] = f.multimasks[i]
            out[f"{t}.{i}.ious"] = f.ious[i]
            out[f"{t}.{i}.object_scores"] = f.object_scores[i]
    return out


def meta_steps(outputs: list[dict]) -> dict[str, torch.Tensor]:
    out = {}
    for t, o in enumerate(outputs):
        for i, masks in enumerate(o["multistep_pred_multimasks_high_res"]):
            out[f"{t}.{i}.multimasks"] = masks
            out[f"{t}.{i}.ious"] = o["multistep_pred_ious"][i]
            out[f"{t}.{i}.object_scores"] = o["multistep_object_score_logits"][i]
    return out


def worst_relative(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    worst = 0.0
    for key, value in a.items():
        theirs = b[key]
        assert value.shape == theirs.shape, key
        scale = max(float(theirs.detach().abs().max()), 1.0)
        diff = float((value - theirs).detach().abs().max()) / scale
        assert diff <= ATOL, (key, diff)
        worst = max(worst, diff)
    return worst


@pytest.mark.parametrize("use_hq", [False, True], ids=["sam3", "hq-sam3"])
@pytest.mark.parametrize("case", list(CASES))
def test_clip_forward_matches_meta_sam3_tracker_training(checkpoints, case, use_hq, monkeypatch):
    settings, teacher_force, seed = CASES[case]
    cpu_only(monkeypatch)
    model = our_model(checkpoints[teacher_force])
    meta, _ = meta_tracker(SCORE_BIAS[teacher_force])
    if use_hq:
        meta.sam_mask_decoder = DecoderAdapter(model.sam_mask_decoder)
    meta = to_training_reference(meta, settings, teacher_force=teacher_force)
    images, gt = clip(seed)

    torch.manual_seed(seed)
    rng = np.random.default_rng(42)
    plan = plan_clip(gt, settings, rng)
    forward = ClipForward(model, settings, use_hq=use_hq,
                          teacher_force_object_scores=teacher_force)
    frames = forward(images, gt, torch.zeros(NUM_OBJECTS, dtype=torch.long), plan, rng)
    ours = MultiStepMaskLoss()(frames, gt)
    ours["loss"].backward()
    our_grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()

    torch.manual_seed(seed)
    rng = np.random.default_rng(42)
    meta_plan = plan_clip(gt, settings, rng)
    inputs = model.preprocess(images.flatten(0, 1))
    outputs = forward_tracking(meta, inputs, gt, meta_plan, rng)
    theirs = meta_multistep_loss()(outputs, gt[:, :, 0])
    theirs["core_loss"].backward()
    their_grads = {meta_name(k): p.grad for k, p in meta.named_parameters()
                   if p.grad is not None}

    steps = flat_steps(frames)
    step_diff = worst_relative(steps, meta_steps(outputs))
    # not a trivial comparison: masks other than NO_OBJ_SCORE everywhere (present objects)
    present = sum(int((v > -1000).flatten(1).any(1).sum()) for k, v in steps.items()
                  if k.endswith("multimasks"))
    assert present >= NUM_FRAMES, "objects hardly ever present: a trivial comparison"
    report = {}
    for name in ("loss_mask", "loss_dice", "loss_iou", "loss_class"):
        report[name] = abs(float(ours[name].detach()) - float(theirs[name].detach()))
        assert report[name] <= ATOL * max(1.0, abs(float(theirs[name]))), (name, report)
    assert set(our_grads) == set(their_grads)
    worst = 0.0
    for name, grad in our_grads.items():
        diff = float((grad - their_grads[name]).abs().max())
        scale = max(float(their_grads[name].abs().max()), 1.0)
        worst = max(worst, diff / scale)
        assert diff <= ATOL_GRAD * scale, (name, diff, scale)
    print(case, "hq-sam3" if use_hq else "sam3", plan.use_points, plan.init_cond_frames,
          plan.frames_to_correct, f"steps {len(steps) // 3} diff {step_diff:.2e}",
          {k: f"{v:.2e}" for k, v in report.items()},
          f"grad {worst:.2e} over {len(our_grads)} tensors")
