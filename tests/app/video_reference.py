"""The video page's reference: VideoPredictor called directly, as the app promises to call it (a
click on (frame, object) sends all of that object's clicks on that frame so far, the last box
among them; "both" propagates forward, then in reverse)."""

import numpy as np

from samhq_train.inference.video import VideoPredictor

PASSES = {"forward": (False,), "backward": (True,), "both": (False, True)}


class Direct:
    def __init__(self, model, frames, **options):
        self.predictor = VideoPredictor(model, **options)
        self.predictor.set_video(frames)
        self.prompts = {}  # (frame, object) -> {"points", "labels", "box"}
        self.masks = {}  # frame -> (object ids, N x H x W bool), the latest given

    def click(self, frame, obj, step):
        prompt = self.prompts.setdefault((frame, obj), {"points": [], "labels": [], "box": None})
        if "box" in step:
            prompt["box"] = step["box"]
        else:
            prompt["points"].append(step["point"][:2])
            prompt["labels"].append(step["point"][2])
        points = prompt["points"] or None
        _, ids, logits = self.predictor.add_points_or_box(
            frame, obj, points, prompt["labels"] if points else None, prompt["box"]
        )
        self._keep(frame, ids, logits)
        return self.masks[frame]

    def propagate(self, direction):
        for reverse in PASSES[direction]:
            for frame, ids, logits in self.predictor.propagate(reverse=reverse):
                self._keep(frame, ids, logits)

    def run(self, actions):
        """Clicks (frame, object, step) and directions, in order; returns self."""
        for action in actions:
            self.propagate(action) if isinstance(action, str) else self.click(*action)
        return self

    def _keep(self, frame, ids, logits):
        self.masks[frame] = (list(ids), (logits[:, 0] > 0).numpy())


def assert_same_masks(session, direct: Direct, what: str):
    """Every frame the session holds masks for equals the direct run's, bit for bit."""
    assert sorted(session.results) == sorted(direct.masks), what
    for frame, (ids, masks) in direct.masks.items():
        got_ids, got = session.masks(frame)
        assert got_ids == ids, f"{what}, frame {frame}"
        np.testing.assert_array_equal(got, masks, err_msg=f"{what}, frame {frame}")
