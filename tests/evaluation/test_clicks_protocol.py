"""The click protocol's rules beyond test_clicks.py: a tie between a missed and a false region
goes to the negative click, NoC@k counts the first click whose IoU reaches k% (>=), and every
decode gets all clicks so far (each call's points extend the previous call's by one) with the
previous call's logits as the mask input."""

import torch

from samhq_train.data import ClickProtocol, next_click
from samhq_train.evaluation.clicks import click_session, clicks_to_reach, score_after
from tests.evaluation.test_clicks import Features, OracleModel, square


def test_a_tie_between_missed_and_false_goes_to_the_negative_click():
    gt = square((40, 40), 5, 12, 5, 12)  # 7 x 7 object, all missed
    pred = square((40, 40), 25, 32, 25, 32)  # 7 x 7 false blob: the same depth
    click = next_click(gt, pred)
    assert not click.positive and (click.y, click.x) == (28, 28)
    pred[25, 25:32] = False  # the false blob is now thinner: the missed region wins
    assert next_click(gt, pred).positive


def test_noc_counts_the_first_click_reaching_the_target_inclusive():
    assert clicks_to_reach([0.5, 0.85, 0.9], 0.85, 20) == 2
    assert clicks_to_reach([0.5, 0.8499], 0.85, 20) == 20
    assert score_after([0.1, 0.2, 0.3], 2) == 0.2 and score_after([0.1, 0.2], 5) == 0.2


def test_every_decode_gets_all_clicks_so_far_and_the_previous_logits():
    model = OracleModel()
    gt = torch.zeros(2, 64, 64, dtype=torch.uint8)
    gt[0, 4:60, 4:60] = 255  # larger than one disc: several positive clicks
    gt[1, 10:30, 8:56] = 255
    batch = {
        "gt_original": list(gt),
        "input_size": [(64, 64)] * 2,
        "original_size": [(64, 64)] * 2,
        "boxes": torch.zeros(2, 4),
    }
    protocol = ClickProtocol(max=5, noc_ious=(99,), report_after=(5,))
    returned = []
    decode = model.decode

    def recording(*args, **kwargs):
        out = decode(*args, **kwargs)
        returned.append(out[0][:, 0])
        return out

    model.decode = recording
    scores = click_session(model, Features(2), batch, protocol)
    assert len(model.calls) >= 3 and all(len(s["iou"]) == len(model.calls) for s in scores)
    for n, (points, labels, mask) in enumerate(model.calls):
        assert points.shape == (2, 1, n + 1, 2) and labels.shape == (2, 1, n + 1)
        if n:
            previous_points, previous_labels, _ = model.calls[n - 1]
            assert torch.equal(points[:, :, :n], previous_points)
            assert torch.equal(labels[:, :, :n], previous_labels)
            assert torch.equal(mask[:, 0], returned[n - 1])


def test_an_image_clicks_on_until_it_is_past_every_noc_target():
    """An image stops only once it is past the highest NoC target (and every reported click
    count), or its mask equals the GT, or at clicks.max: stopping at a lower target would cut
    the higher targets' NoC short."""
    model = OracleModel()
    gt = torch.zeros(1, 64, 64, dtype=torch.uint8)
    gt[0, 12:52, 12:52] = 255  # a 40 x 40 square: the first disc reaches 50% IoU, not 99%
    batch = {
        "gt_original": list(gt),
        "input_size": [(64, 64)],
        "original_size": [(64, 64)],
        "boxes": torch.zeros(1, 4),
    }
    protocol = ClickProtocol(max=6, noc_ious=(50, 99), report_after=(1,))
    ious = click_session(model, Features(1), batch, protocol)[0]["iou"]
    assert 0.5 <= ious[0] < 0.99  # past the lower target after one click
    assert len(ious) == protocol.max or ious[-1] >= 0.99
