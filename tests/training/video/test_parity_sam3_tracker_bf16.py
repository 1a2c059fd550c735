"""SAM 3 / HQ-SAM 3 video training under bf16 autocast (trainer.precision=bf16-mixed) against
Meta's Sam3TrackerBase in training mode under the same autocast: test_parity_sam3_tracker.py's
miniature, clips, cases and random streams, torch.autocast("cpu", torch.bfloat16) on both sides.
As for SAM 2 (test_parity_sam2train_bf16.py, which says why): the dtypes of every frame's memory,
its position encoding, multimasks, IoUs and object scores and of the loss terms must be Meta's,
the values agree to bf16's rounding (same tolerances).

The loss back-propagates, of the multimask candidates, only the one with the lowest weighted focal
+ dice: a discrete pick. The random miniature's candidates are near copies (those losses 1e-4 to
4e-3 apart), and bf16 moves each by up to 5e-4 (Meta's run as ours), so one side could pick
another candidate. It did on an AMD EPYC (AVX512-BF16, no AMX): on the mose case one object of
one frame, and the gradient was 32% from Meta's while the loss terms stayed within 1.1e-3
(our bf16 gradient 32% from our fp32 one, Meta's 1.1% from its own; fp32 ours = Meta's). So the
candidates are scaled apart (CANDIDATE_SCALES, both sides) and the pick's margin is asserted:
the gradient compares the same path on every CPU, under the same RTOL_GRAD. The mask tracking
keeps (the best predicted IoU) is a pick too: Meta's bf16 IoUs tied exactly on the HQ
clicks_6_cond case and were one bf16 step (3.9e-3) apart on mask_teacher_forced, two on mose;
so the IoUs are set apart too (IOU_OFFSETS) and every pick's margin is asserted
(test_parity_sam2train_bf16.pick_margins, MIN_PICK_MARGIN).

Measured on an earlier machine (CPU not recorded), the candidates not scaled: each loss term
within 3.7e-3 of Meta's, 0.63% of the mask logits of another sign (the six-conditioning-frame HQ
clip, 18 decodes; Meta's own bf16 run against its fp32 run there: 0.43%), the gradient within
2.9% of its norm; again with the other two cases on four frames (FRAMES): 2.7e-4, 0.17%, 4.0%.
On the AMD EPYC, scaled: mose 1.7e-3, 0.16%, 1.2% (Meta's bf16 against its fp32: 1.6e-3, 0.17%,
1.3%); mask_teacher_forced 5.0e-4, 0.18%, 4.3% (7.4e-4, 0.16%, 3.4%); HQ clicks_6_cond 1.9e-3,
0.44%, 5.2% (6.5e-4, 0.36%, 3.1%); the smallest pick margin 0.23, 0.24, 0.10. With the IoUs
set apart too: mose 1.1e-3, 0.14%, 1.2%; mask_teacher_forced 1.5e-3, 0.18%, 1.5%; HQ
clicks_6_cond 4.4e-4, 0.22%, 2.6%; the smallest margins of the loss's and the IoU's picks 0.23 and
0.13, 0.23 and 0.13, 0.075 and 0.12."""

import numpy as np
import pytest
import torch

from samhq_train.training.video import ClipForward, MultiStepMaskLoss, plan_clip

pytest.importorskip("sam3")
# first: it stands in for tensordict, which sam2's training package imports
from .test_parity_sam2train import meta_multistep_loss  # noqa: E402, I001
from tests.model.sam3.meta_tracker import cpu_only  # noqa: E402

from .meta_sam3_train import forward_tracking, to_training_reference  # noqa: E402
from .test_parity_sam2train_bf16 import (  # noqa: E402
    MAX_SIGN_FLIPS,
    RTOL_GRAD,
    RTOL_LOSS,
    TERMS,
    assert_no_near_tie,
    autocast,
    frame_dtypes,
    pick_margins,
    set_candidates_apart,
    sign_flips,
)
from .test_parity_sam3_tracker import (  # noqa: E402
    CASES,
    NUM_OBJECTS,
    SCORE_BIAS,
    DecoderAdapter,
    checkpoints,  # noqa: F401 (the fixture)
    clip,
    meta_name,
    meta_tracker,
    our_model,
)

PAIRS = [("mose", False), ("clicks_6_cond", True), ("mask_teacher_forced", False)]
# the clip's frames: six where the case is about six conditioning frames, else four (the bf16
# paths are the same at every frame; an object still leaves on frame 2)
FRAMES = {"clicks_6_cond": 6}

@pytest.mark.parametrize(("case", "use_hq"), PAIRS, ids=[f"{c}-{'hq-sam3' if h else 'sam3'}"
                                                           for c, h in PAIRS])
def test_bf16_clip_forward_matches_meta_sam3_tracker_under_autocast(
        checkpoints, case, use_hq, monkeypatch):  # noqa: F811
    settings, teacher_force, seed = CASES[case]
    cpu_only(monkeypatch)
    model = our_model(checkpoints[teacher_force])
    meta, _ = meta_tracker(SCORE_BIAS[teacher_force])
    set_candidates_apart(model.sam_mask_decoder)
    set_candidates_apart(meta.sam_mask_decoder)
    if use_hq:
        meta.sam_mask_decoder = DecoderAdapter(model.sam_mask_decoder)
    meta = to_training_reference(meta, settings, teacher_force=teacher_force)
    images, gt = clip(seed, FRAMES.get(case, 4))

    torch.manual_seed(seed)
    rng = np.random.default_rng(42)
    with autocast():
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
    with autocast():
        meta_plan = plan_clip(gt, settings, rng)
        outputs = forward_tracking(meta, model.preprocess(images.flatten(0, 1)), gt, meta_plan,
                                   rng)
        theirs = meta_multistep_loss()(outputs, gt[:, :, 0])
    theirs["core_loss"].backward()
    their_grads = {meta_name(k): p.grad for k, p in meta.named_parameters()
                   if p.grad is not None}

    for t, (mine, meta_out) in enumerate(zip(frames, outputs, strict=True)):
        our_dtypes, their_dtypes = frame_dtypes(mine, meta_out)
        assert our_dtypes == their_dtypes, (t, our_dtypes, their_dtypes)
        assert our_dtypes["memory"] == torch.bfloat16  # autocast is on
    assert {ours[n].dtype for n in (*TERMS, "loss")} == {theirs[n].dtype for n in TERMS} == {
        torch.float32}

    report = {n: abs(float(ours[n]) - float(theirs[n])) / max(abs(float(theirs[n])), 1e-6)
              for n in TERMS}
    report["flips"] = sign_flips(frames, outputs)
    margins = pick_margins(outputs, gt, MultiStepMaskLoss(), teacher_force)
    assert set(our_grads) == set(their_grads)
    diff = torch.stack([(g - their_grads[k]).pow(2).sum() for k, g in our_grads.items()])
    norm = torch.stack([g.pow(2).sum() for g in their_grads.values()])
    report["grad"] = float(diff.sum().sqrt() / norm.sum().sqrt())
    print(case, "hq-sam3" if use_hq else "sam3", {k: f"{v:.1e}" for k, v in report.items()},
          {k: f"{v:.1e}" for k, v in margins.items()})
    assert_no_near_tie(margins)
    assert all(report[n] <= RTOL_LOSS for n in TERMS), report
    assert report["flips"] <= MAX_SIGN_FLIPS, report
    assert report["grad"] <= RTOL_GRAD, report
