"""The video concept model end to end (ConceptVideoSession) against Meta's Sam3VideoInference on
the CPU miniature: the same sam3.pt-layout weights, frames and text prompt; add_prompt on frame 0,
propagate_in_video forward, then a second prompt on frame 4 and propagation in reverse. Meta's
settings scaled to the short video (hotstart delay 3, detection thresholds among the detector's
scores (meta_video.confident_detector), reconditioning every 3rd frame, keep-alive 2) so objects
start on most frames and are removed by the hotstart rules and hidden (no track is re-prompted:
see the assertion).
Compared on every processed frame (before the hotstart delay hides anything): the objects
tracked and each one's mask (bool at the video's size); on every shown frame: object ids,
scores (1e-5) and masks. Masks bit for bit (at most 2 pixels may flip: the tracker's features
are bf16-rounded, where a last-bit flip can move a logit across the cut). Plain SAM 3 and
HQ-SAM 3 (Meta's tracker with our HQ decoder)."""

import numpy as np
import pytest
import torch

from samhq_train.inference.video.concept_video.session import ConceptVideoSession
from samhq_train.inference.video.concept_video.settings import ConceptVideoSettings

from .conftest import build_pair
from .meta_video import cpu_patches, meta_video_state

TEXT = "a striped cat"  # the other tests' prompt (they compare our command and session)
# The end-to-end comparison's prompt. Under "a striped cat" the random miniature tracks objects
# whose masks are identical on a frame (empty blobs grown from one detection): which of them a
# later detection moves is then decided by float rounding, which differs between CPUs (AVX2 vs
# AVX-512 kernels: 1200 flipped pixels on an AVX2-only EPYC, none where the test was written).
# Under this phrase no two tracked objects coincide, and every rule still fires (see the counts).
PARITY_TEXT = "a person"
SETTINGS = ConceptVideoSettings(
    score_threshold_detection=0.72,
    new_det_thresh=0.8,
    hotstart_delay=3,
    hotstart_unmatch_thresh=2,
    hotstart_dup_thresh=2,
    recondition_every_nth_frame=3,
    init_trk_keep_alive=2,
    max_trk_keep_alive=3,
    min_trk_keep_alive=-1,
)
RUNS = [(0, False), (4, True)]  # (prompt frame, reverse)


def run_meta(meta, frames, video_hw):
    """[(frame, {obj id: bool H x W mask})] per processed frame, [(frame, outputs)] shown."""
    steps = []
    det_track = meta._det_track_one_frame

    def spy(**kwargs):
        result = det_track(**kwargs)
        masks = {int(k): v[0].clone() for k, v in result[0].items()}
        steps.append((kwargs["frame_idx"], masks))
        return result

    meta._det_track_one_frame = spy
    shown = []
    for frame, reverse in RUNS:
        state = meta_video_state(meta, frames, video_hw)
        _, out = meta.add_prompt(state, frame_idx=frame, text_str=PARITY_TEXT)
        shown.append((frame, out))
        for t, out in meta.propagate_in_video(state, frame, None, reverse):
            shown.append((t, out))
    return steps, shown


def count_operations(session: ConceptVideoSession, counts: dict) -> None:
    """Count the objects each tracker operation gets (so the test knows every rule fired)."""
    tracker = session.tracker
    for name in ("add_objects", "recondition", "remove_objects"):
        operation = getattr(tracker, name)

        def counted(*args, _operation=operation, _name=name):
            counts[_name] = counts.get(_name, 0) + len(args[-1] if _name == "remove_objects"
                                                       else args[1])
            return _operation(*args)

        setattr(tracker, name, counted)


def run_ours(session: ConceptVideoSession, counts: dict):
    steps = []
    step = session._step
    count_operations(session, counts)

    def spy(frame, reverse):
        result = step(frame, reverse)
        steps.append((frame, {int(k): v[0].clone() for k, v in result.obj_id_to_mask.items()}))
        return result

    session._step = spy
    shown = []
    for frame, reverse in RUNS:
        shown.append((frame, session.add_prompt(frame, PARITY_TEXT)))
        shown += list(session.propagate(reverse=reverse))
    return steps, shown


def count_flips(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((torch.as_tensor(a) != torch.as_tensor(b)).sum())


def compare_runs(theirs: tuple, mine: tuple) -> tuple[int, int, int, float]:
    """Meta's and our (processed steps, shown outputs) of one run: the same frames processed
    and shown, the same objects on each and the same ids shown (asserted) -> (flipped pixels
    over every processed and shown mask, non-empty object masks processed, objects shown, the
    largest score difference)."""
    (their_steps, their_shown), (my_steps, my_shown) = theirs, mine
    assert [f for f, _ in my_steps] == [f for f, _ in their_steps]
    flips, objects = 0, 0
    for (frame, theirs), (_, mine) in zip(their_steps, my_steps):
        assert sorted(mine) == sorted(theirs), frame
        for obj_id, mask in theirs.items():
            flips += count_flips(mask, mine[obj_id])
            objects += int(mask.any())
    assert [f for f, _ in my_shown] == [f for f, _ in their_shown]
    shown_objects, worst_score = 0, 0.0
    for (frame, theirs), (_, mine) in zip(their_shown, my_shown):
        assert mine.obj_ids.tolist() == theirs["out_obj_ids"].tolist(), frame
        worst_score = max([worst_score, *np.abs(mine.probs - theirs["out_probs"]).tolist()])
        flips += count_flips(theirs["out_binary_masks"], mine.masks)
        shown_objects += len(mine.obj_ids)
    return flips, objects, shown_objects, worst_score


@pytest.mark.parametrize("use_hq", [False, True], ids=["sam3", "hq-sam3"])
def test_session_equals_meta_video_inference(concept_video, use_hq, monkeypatch):
    cpu_patches(monkeypatch)
    meta, model, _ = build_pair(concept_video, SETTINGS.meta_kwargs(), use_hq)
    session = ConceptVideoSession(model, concept_video[1], SETTINGS, use_hq=use_hq)
    session.set_video(concept_video[3])
    with torch.inference_mode():
        tracker = session.tracker
        their_steps, their_shown = run_meta(meta, tracker.frames, tracker.video_size)
        counts = {}
        my_steps, my_shown = run_ours(session, counts)
    flips, objects, shown_objects, worst_score = compare_runs(
        (their_steps, their_shown), (my_steps, my_shown))
    print(f"session ({'hq' if use_hq else 'sam3'}): {len(my_steps)} frames processed, "
          f"{objects} object masks, {shown_objects} objects shown, {flips} flipped pixels, "
          f"max |score diff| {worst_score:.1e}, objects added / re-prompted / removed {counts}")
    assert objects >= len(my_steps) and shown_objects >= 4, "a trivial comparison"
    # the random detector's masks are small blobs the tracker does not reproduce (IoU < 0.8): no
    # track is re-prompted here; test_tracker_ops_meta.py compares reconditioning itself
    assert counts.get("add_objects", 0) >= 10 and counts.get("remove_objects", 0) >= 5
    assert worst_score <= 1e-5
    assert flips <= 2
