"""The video page's text mode test files and reference: Meta's SAM 3 video concept miniature with
the detector (tests/inference/video/concept_video/meta_video.py) in sam3.pt's layout, its merges
file, a 5-frame synthetic video and the session tests' settings scaled to short videos; the
reference is ConceptVideoSession called directly (add_prompt, then propagate forward and in
reverse) with its frames written by samhq-video --detect-every-frame's own writer.

With these, the prompt frame's preview shows object 1 and the forward pass gives that frame
again with object 4 instead (the numbering must restart from it), then up to 7 objects come and
go with ids growing to 14. Then the clicks (CLICKS: object 3 refined with a negative point on frame
4, a new object 15 added there), a propagation both ways (the clicked objects tracked from frame
0), object 6 removed and a forward propagation (the shown masks served again), each round's
files written as samhq-video --prompts writes the last round's. Last, the text again on its frame
with the page's thresholds raised (PAGE_CHANGE): fewer objects there (the one shown, another id)."""

import io
import json
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from samhq_train.inference.command_options import decode_with_hq
from samhq_train.inference.video import ConceptVideoSession
from samhq_train.inference.video.command import davis_palette
from samhq_train.inference.video.concept_video.command_run import write_outputs
from samhq_train.inference.video.frames import open_video
from samhq_train.model import load_checkpoint
from tests.inference.video.concept_video.meta_video import build_meta_video_model
from tests.inference.video.concept_video.test_session_meta import SETTINGS, TEXT  # noqa: F401
from tests.inference.video.conftest import write_video
from tests.model.sam3.concept.synthetic_bpe import write_merges_file

NUM_FRAMES = 5
TEXT_FRAME = 3
CLICK_FRAME = 4
CLICKS = [(3, (39.0, 52.0, 0)), (15, (100.0, 70.0, 1))]  # (object, (x, y, label)) on CLICK_FRAME
REMOVED = 6
PAGE_CHANGE = {"score_threshold_detection": 0.88, "new_det_thresh": 0.9}


def write_text_video_files(folder: Path) -> dict[str, Path]:
    """{"checkpoint", "bpe", "video", "settings"} (settings: a --concept-settings file)."""
    bpe = folder / "bpe.txt.gz"
    write_merges_file(bpe)
    _, state = build_meta_video_model(bpe, {})
    checkpoint = folder / "sam3.pt"
    torch.save(state, checkpoint)
    settings = folder / "settings.json"
    settings.write_text(json.dumps(asdict(SETTINGS)))
    video = write_video(folder / "frames", num_frames=NUM_FRAMES)
    return {"checkpoint": checkpoint, "bpe": bpe, "video": video, "settings": settings}


def png_values(data: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(data))
    assert picture.mode == "P" and picture.getpalette() == davis_palette()[: 3 * 256]
    return np.array(picture)


class TextReference:
    """The session's answers: the prompt frame's preview (add_prompt's output), every frame's
    propagated output, and samhq-video's files for them ({name: bytes}, concept.json too); then
    each click's output, and the files of the rounds after the clicks and after the removal."""

    def __init__(self, files: dict[str, Path]) -> None:
        model = load_checkpoint(files["checkpoint"]).eval()
        session = ConceptVideoSession(model, files["bpe"], SETTINGS, use_hq=decode_with_hq(model))
        self.video = open_video(files["video"])
        session.set_video(self.video)
        self.preview = session.add_prompt(TEXT_FRAME, TEXT)
        self.outputs, self.files = self._round(session, (False, True), 0)
        self.objects = json.loads(self.files["concept.json"])["objects"]
        self.clicked = [session.add_points(CLICK_FRAME, obj_id, [point[:2]], [point[2]])
                        for obj_id, point in CLICKS]
        self.tracked_ids = list(session.obj_ids)
        self.round_outputs, self.round_files = self._round(session, (False, True), 1)
        session.remove_object(REMOVED)
        self.removed_outputs, self.removed_files = self._round(session, (False,), 2)
        session.settings = replace(SETTINGS, **PAGE_CHANGE)
        self.changed_preview = session.add_prompt(TEXT_FRAME, TEXT)
        self.changed_tracked = list(session.obj_ids)
        self.names = self.video.names

    def _round(self, session, passes, rounds) -> tuple[dict, dict[str, bytes]]:
        results = [r for reverse in passes for r in session.propagate(reverse=reverse)]
        record = {"text": TEXT, "frame": TEXT_FRAME, "frame_name": self.video.names[TEXT_FRAME],
                  "settings": asdict(SETTINGS), "click_rounds": rounds}
        with tempfile.TemporaryDirectory() as tmp:
            write_outputs(Path(tmp), self.video, results, davis_palette(), record, session)
            written = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
        return dict(results), written

    def picture(self, frame: int, files: dict[str, bytes] | None = None) -> np.ndarray:
        return png_values((files or self.files)[f"{self.names[frame]}.png"])


def assert_shows_output(values: np.ndarray, record: dict, output, what: str) -> None:
    """The page's PNG values and record show exactly the output's objects and masks."""
    ids = output.obj_ids.tolist()
    assert record["objects"] == ids, what
    for obj_id, mask in zip(ids, output.masks):
        np.testing.assert_array_equal(values == record["values"][str(obj_id)], mask,
                                      err_msg=f"{what}, object {obj_id}")
        assert record["areas"][str(obj_id)] == int(mask.sum()), what
        assert record["scores"][str(obj_id)] == float(output.probs[ids.index(obj_id)]), what
    assert (values > 0).sum() == sum(int(m.sum()) for m in output.masks), what
