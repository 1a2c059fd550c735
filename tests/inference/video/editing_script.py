"""Prompt / clear / remove / propagate scripts run on our VideoPredictor and on a Meta predictor
(the drivers differ per predictor; the steps and what is recorded do not), and their comparison.

A step is ("add", frame, obj, prompt), ("clear", frame, obj), ("remove", obj),
("propagate", reverse, ...) (from the first conditioning frame) or ("from", start_frame,
reverse, ...) (from there; forward when no reverse is given). Recorded: each add's and clear's
masks, each remove's (obj_ids, {frame: masks}), each propagated frame's (obj_ids, masks)."""

from .conftest import VIDEO_HW


def run_script(script, add, clear, remove, propagate) -> dict:
    out = {}
    for i, (kind, *args) in enumerate(script):
        if kind == "add":
            out[i] = add(*args)
        elif kind == "clear":
            out[i] = clear(*args)
        elif kind == "remove":
            ids, frames = remove(*args)
            out[i] = (list(ids), dict(sorted(frames)))
        else:
            if kind == "propagate":
                runs = [(None, reverse) for reverse in args]
            else:
                runs = [(args[0], reverse) for reverse in args[1:] or (False,)]
            for start, reverse in runs:
                for frame, ids, masks in propagate(start, reverse):
                    out[(i, reverse, frame)] = (list(ids), masks)
    return out


def run_ours(predictor, script) -> dict:
    def add(frame, obj, prompt):
        if isinstance(prompt, dict):
            return predictor.add_points_or_box(frame, obj, **prompt)[2]
        return predictor.add_mask(frame, obj, prompt)[2]

    return run_script(
        script, add, lambda frame, obj: predictor.clear_prompts(frame, obj)[2],
        predictor.remove_object,
        lambda start, reverse: predictor.propagate(start, reverse=reverse),
    )


def compare(theirs: dict, ours: dict, min_present: int) -> float:
    """The largest difference of any recorded logits (keys, object ids, frames must agree);
    checks the objects are found often (not a trivial -1024 everywhere)."""
    assert theirs.keys() == ours.keys()
    worst, present = 0.0, 0
    for key, value in theirs.items():
        pairs = [(value, ours[key])]
        if isinstance(value, tuple):
            assert value[0] == ours[key][0], key
            if isinstance(value[1], dict):  # a remove: the frames it held prompts on
                assert value[1].keys() == ours[key][1].keys(), key
                pairs = [(value[1][f], ours[key][1][f]) for f in value[1]]
            else:
                pairs = [(value[1], ours[key][1])]
                present += int((value[1] > 0).any(dim=(1, 2, 3)).sum())
        for a, b in pairs:
            assert a.shape == b.shape and a.shape[-2:] == VIDEO_HW, key
            worst = max(worst, (a - b).abs().max().item())
    assert present >= min_present, f"objects found only {present} times: a trivial comparison"
    return worst

