"""A running app on a free port with the tests' tiny SAM-HQ (vit_demo, random weights, seed 0)
saved to a file, and the reference masks of a click sequence from SamHQPredictor; for the video
page, the video tests' HQ-SAM 2 miniature (hq_sam2_file) on their synthetic video."""

import threading
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from samhq_train.app.command import main as app_main
from samhq_train.data.demo import make_demo_sample
from samhq_train.inference import SamHQPredictor
from samhq_train.model import load_checkpoint, save_checkpoint
from tests.inference.video.conftest import (  # noqa: F401 (fixtures)
    hq_sam2_file,
    official,
    official_model,
    write_video,
)
from tests.reference import random_tiny_model


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("app_model") / "tiny.safetensors"
    save_checkpoint(random_tiny_model(seed=0), path, "safetensors", variant="vit_demo")
    return path


@contextmanager
def serving(args):
    """The base url of an app started with `args`, serving in a thread until the block ends."""
    server = app_main([*args, "--port", "0", "--device", "cpu"], serve=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app_server(tiny_checkpoint, tmp_path):
    """(base url, output folder) of an app serving in a thread until the test ends."""
    out = tmp_path / "app_out"
    with serving([str(tiny_checkpoint), "--out", str(out)]) as base:
        yield base, out


@pytest.fixture
def video_frames(tmp_path):
    """The video tests' synthetic video: 6 JPEG frames of 128 x 96."""
    return write_video(tmp_path / "frames")


@pytest.fixture
def video_server(hq_sam2_file, video_frames, tmp_path):  # noqa: F811
    """The base url of an app on the video page: the HQ-SAM 2 miniature on video_frames."""
    args = [str(hq_sam2_file), "--video", str(video_frames), "--out", str(tmp_path / "app_out")]
    with serving(args) as base:
        yield base


def demo_image(index: int = 0) -> np.ndarray:
    return make_demo_sample(0, "val", index, 256, 320)[0]


def _best(masks, scores, low_res):
    best = int(np.argmax(scores)) if masks.shape[0] > 1 else 0
    return masks[best], low_res[best][None]


def _plain_sam(predictor: SamHQPredictor, points, box, mask_input, multimask):
    """SAM with HQ off, straight from the model's decode (use_hq=False) on the predictor's
    embedding: masks M x H x W bool, scores M, low-res M x S/4 x S/4."""
    model, size = predictor.model, predictor.original_size

    def scale(coords):
        return torch.tensor(
            model.processing.scale_coords(np.asarray(coords, np.float64), size),
            dtype=torch.float32,
        )

    kwargs = {"multimask_output": multimask, "use_hq": False}
    if len(points):
        pts = np.asarray(points, np.float64)
        kwargs["points"] = (
            scale(pts[:, :2])[None, None],
            torch.tensor(pts[:, 2])[None, None].float(),
        )
    if box is not None:
        kwargs["boxes"] = scale(np.asarray(box).reshape(2, 2)).reshape(1, 1, 4)
    if mask_input is not None:
        kwargs["mask_inputs"] = torch.tensor(mask_input)[None, None]
    with torch.no_grad():
        low_res, iou = model.decode(predictor.features, **kwargs)
        full = model.postprocess_masks(low_res[0, 0], predictor.input_size, size)
    return (full > model.mask_threshold).numpy(), iou[0, 0].numpy(), low_res[0, 0].numpy()


def reference_masks(checkpoint, image, steps, refine=True):
    """(SAM-HQ mask, SAM mask) after each step of a click sequence, as the app promises: the prompt
    holds the points so far and the last box; one lone point asks for multimask output (best
    score); with refine, each step's mask input is the previous step's low-res logits."""
    predictor = SamHQPredictor(load_checkpoint(checkpoint))
    predictor.set_image(image)
    out, previous = [], (None, None)
    for i in range(len(steps)):
        points = [s["point"] for s in steps[: i + 1] if "point" in s]
        boxes = [s["box"] for s in steps[: i + 1] if "box" in s]
        box = np.asarray(boxes[-1], np.float64) if boxes else None
        first = i == 0 or not refine
        multimask = len(points) == 1 and box is None and first
        pts = np.asarray(points, np.float64).reshape(-1, 3)
        hq = predictor.predict(
            pts[:, :2] if len(pts) else None,
            pts[:, 2] if len(pts) else None,
            box,
            None if first else previous[0],
            multimask_output=multimask,
        )
        sam = _plain_sam(predictor, pts, box, None if first else previous[1], multimask)
        (hq_mask, hq_low), (sam_mask, sam_low) = _best(*hq), _best(*sam)
        out.append((hq_mask, sam_mask))
        previous = (hq_low, sam_low)
    return out
