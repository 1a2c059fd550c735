"""Click placement (data/clicks.py), NoC and the click protocol (evaluation/clicks.py), and the
click table of evaluate(cfg)."""

import numpy as np
import pytest
import torch

from samhq_train.data import ClickProtocol, next_click
from samhq_train.data.clicks import deepest_point
from samhq_train.evaluation.clicks import click_session, clicks_to_reach, summarize
from samhq_train.settings import SettingError
from tests.evaluation.eval_configs import NUM_VAL, demo_cfg


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("demo")


def square(size, y0, y1, x0, x1):
    mask = np.zeros(size, bool)
    mask[y0:y1, x0:x1] = True
    return mask


# ---- placement -----------------------------------------------------------------------------


def test_first_click_is_the_objects_deepest_point():
    gt = square((40, 60), 10, 31, 5, 16)  # 21 x 11: the centre column x=10, rows 15..25 tie
    click = next_click(gt, np.zeros_like(gt))
    assert click.positive and click.x == 10 and click.y == 15  # first in row-major order
    assert click.depth == pytest.approx(6.0)  # 6 pixels to the nearest outside pixel


def test_next_click_is_positive_in_the_widest_missed_region():
    gt = square((50, 50), 0, 50, 0, 30)
    pred = square((50, 50), 0, 50, 0, 30)
    pred[10:30, 10:30] = False  # a 20 x 20 hole: missed
    pred[40:44, 35:39] = True  # a 4 x 4 false blob
    click = next_click(gt, pred)
    assert click.positive and (click.y, click.x) == (19, 19)  # depth 10; (20, 20) ties, later
    assert click.depth == pytest.approx(10.0)


def test_next_click_is_negative_in_the_widest_false_region():
    gt = square((50, 50), 5, 15, 5, 15)
    pred = gt.copy()
    pred[20:45, 20:45] = True  # a wide false region
    pred[6, 6] = False  # a one-pixel miss
    click = next_click(gt, pred)
    assert not click.positive and 20 <= click.x < 45 and 20 <= click.y < 45
    assert (click.x, click.y) == (32, 32)


def test_the_image_border_bounds_an_error_region():
    gt = square((30, 30), 0, 30, 0, 8)  # a strip along the left border
    click = next_click(gt, np.zeros_like(gt))
    assert click.x in (3, 4)  # the middle of the strip, not the border column


def test_exact_mask_gives_no_click_and_cropping_equals_the_whole_image():
    gt = square((30, 40), 3, 20, 7, 30)
    assert next_click(gt, gt) is None
    rng = np.random.default_rng(0)
    region = rng.random((64, 48)) < 0.7
    region[:5] = False
    import cv2

    full = cv2.distanceTransform(
        np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
    )[1:-1, 1:-1]
    depth, y, x = deepest_point(region)
    assert depth == full.max() and (y, x) == np.unravel_index(np.argmax(full), full.shape)


# ---- NoC and the summary -------------------------------------------------------------------


def test_noc_and_scores_after_n_clicks_on_a_known_case():
    protocol = ClickProtocol(max=20, noc_ious=(85, 90), report_after=(1, 3))
    sessions = [  # IoU after each click; b stops early (past 90 after 3 clicks)
        {"iou": [0.5, 0.86, 0.95], "biou": [0.1, 0.2, 0.3]},
        {"iou": [0.8, 0.84, 0.849] + [0.849] * 17, "biou": [0.4] * 20},  # never reaches 85
        {"iou": [0.9, 0.91, 0.92], "biou": [0.5, 0.5, 0.6]},
    ]
    assert clicks_to_reach(sessions[0]["iou"], 0.85, 20) == 2
    assert clicks_to_reach(sessions[1]["iou"], 0.85, 20) == 20
    out = summarize(sessions, protocol)
    assert out["NoC@85"] == pytest.approx((2 + 20 + 1) / 3)
    assert out["NoC@90"] == pytest.approx((3 + 20 + 1) / 3)
    assert out["mIoU@1"] == pytest.approx((0.5 + 0.8 + 0.9) / 3)
    assert out["mIoU@3"] == pytest.approx((0.95 + 0.849 + 0.92) / 3)
    assert out["mBIoU@3"] == pytest.approx((0.3 + 0.4 + 0.6) / 3)
    assert out["count"] == 3


def test_protocol_record_refuses_bad_settings_by_key():
    with pytest.raises(SettingError, match=r"clicks\.max=0"):
        ClickProtocol(max=0)
    with pytest.raises(SettingError, match=r"clicks\.report_after"):
        ClickProtocol(max=3, report_after=(1, 5))
    fractions = r"clicks\.noc_ious=\[0\.85, 0\.9\]: .*percent.*not 0\.85"
    with pytest.raises(SettingError, match=fractions):
        ClickProtocol.from_mapping({"noc_ious": [0.85, 0.9]})  # fractions: every click reaches them
    with pytest.raises(SettingError, match=r"clicks\.noc is not a setting"):
        ClickProtocol.from_mapping({"noc": [90]})


# ---- the protocol on a model ---------------------------------------------------------------


class OracleModel(torch.nn.Module):
    """Decodes a disc around each positive click of radius 6 (low-res px), minus negatives' discs:
    the session must stop, place clicks in the model frame and feed the logits back."""

    image_size = 64

    def __init__(self):
        super().__init__()
        self.calls = []

    def decode(self, features, *, points, mask_inputs=None, **kwargs):
        self.calls.append((points[0].clone(), points[1].clone(), mask_inputs))
        b = points[0].shape[0]
        yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
        logits = torch.full((b, 1, 1, 16, 16), -10.0)
        for i in range(b):
            for (x, y), label in zip(points[0][i, 0], points[1][i, 0]):
                disc = (xx - x / 4) ** 2 + (yy - y / 4) ** 2 <= 36
                logits[i, 0, 0][disc] = 10.0 if label == 1 else -10.0
        return logits, torch.zeros(b, 1, 1)


class Features:
    def __init__(self, b):
        self.batch_size = b

    def select(self, index):
        return Features(len(index))


def test_session_clicks_stop_and_feed_back_logits():
    model = OracleModel()
    gt = torch.zeros(2, 64, 64, dtype=torch.uint8)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    gt[0][((xx - 32) ** 2 + (yy - 32) ** 2) <= 24**2] = 255  # a disc the first click covers
    gt[1][10:54, 20:44] = 255
    batch = {
        "gt_original": list(gt),
        "input_size": [(64, 64)] * 2,
        "original_size": [(64, 64)] * 2,
        "boxes": torch.zeros(2, 4),
    }
    protocol = ClickProtocol(max=4, noc_ious=(85,), report_after=(1, 2))
    scores = click_session(model, Features(2), batch, protocol)
    first_points, first_labels, first_mask = model.calls[0]
    assert first_mask is None and first_labels.tolist() == [[[1.0]], [[1.0]]]
    assert (first_points[0, 0, 0] - 32).abs().max() <= 1  # the disc's centre
    assert all(call[2] is not None for call in model.calls[1:])  # previous logits fed back
    # the first discs overshoot both objects: negative clicks follow, and reach the model as 0
    assert (model.calls[-1][1] == 0).any()
    assert all(len(s["iou"]) >= 2 for s in scores)  # report_after: at least 2 clicks each
    assert all(len(s["iou"]) <= 4 for s in scores)


def test_session_clicks_are_scaled_per_axis_to_the_model_frame():
    """The benchmark resize squashes a non-square image to S x S: x scales by S / W, y by S / H."""
    model = OracleModel()
    gt = torch.zeros(32, 128, dtype=torch.uint8)
    gt[4:12, 90:110] = 255
    batch = {"gt_original": [gt], "input_size": [(64, 64)], "original_size": [(32, 128)],
             "boxes": torch.zeros(1, 4)}
    protocol = ClickProtocol(max=1, noc_ious=(85,), report_after=(1,))
    click_session(model, Features(1), batch, protocol)
    click = next_click(gt.numpy() > 128, np.zeros((32, 128), bool))
    assert model.calls[0][0][0, 0, 0].tolist() == [click.x * 64 / 128, click.y * 64 / 32]

def test_evaluate_writes_the_click_table_uncached_and_from_the_cache(tmp_path, data_root):
    out = tmp_path / "eval"
    result = evaluate_clicks(out, data_root)
    cached = evaluate_clicks(
        tmp_path / "cached",
        data_root,
        "data.cache.enabled=true",
        f"data.cache.dir={tmp_path / 'cache'}",
    )
    for kind, sets in result["clicks"]["results"].items():
        assert cached["clicks"]["results"][kind]["demo-val"] == pytest.approx(
            sets["demo-val"], abs=1e-6
        )
    table = (out / "clicks.md").read_text()
    assert "| SAM | " in table and "| SAM-HQ | " in table and "NoC@90" in table
    for kind in ("sam", "hq"):
        row = result["clicks"]["results"][kind]["demo-val"]
        assert row["count"] == NUM_VAL and 1 <= row["NoC@90"] <= 3
        assert 0 <= row["mIoU@1"] <= 1 and 0 <= row["mBIoU@3"] <= 1
    assert len(result["clicks"]["images"]) == NUM_VAL


def evaluate_clicks(out, root, *extra):
    from samhq_train.evaluation.entry import evaluate

    return evaluate(
        demo_cfg(
            out,
            root,
            "benchmark=false",
            "clicks.enabled=true",
            "clicks.max=3",
            "clicks.report_after=[1,3]",
            "n_worst=0",
            *extra,
        )
    )
