"""samhq-evaluate on a checkpoint without trained HQ parts: a legitimate run (its SAM-HQ rows are
the figure before training) that says so in one note line; a SAM-HQ file gets none."""

import torch

from samhq_train.evaluation.entry import evaluate
from samhq_train.model import save_checkpoint, without_hq
from tests.evaluation.eval_configs import demo_cfg
from tests.reference import random_tiny_model


def test_a_plain_file_gets_one_note_and_the_same_rows(tmp_path, capsys):
    model = random_tiny_model(seed=1)
    plain = tmp_path / "sam_tiny.pth"
    torch.save(without_hq(model.state_dict()), plain)
    hq = save_checkpoint(model, tmp_path / "sam_hq_tiny.pth", "sam_hq")
    data_root = tmp_path / "demo"
    capsys.readouterr()
    evaluate(demo_cfg(tmp_path / "plain", data_root, f"model.checkpoint={plain}", "n_worst=0"))
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if line.startswith("note: ")]
    assert notes == [
        f"note: {plain} holds no HQ parts (a plain SAM checkpoint): its SAM-HQ rows are the "
        "untrained HQ parts (the figure before training)"
    ]
    assert "| SAM-HQ |" in captured.out
    evaluate(demo_cfg(tmp_path / "hq", data_root, f"model.checkpoint={hq}", "n_worst=0"))
    assert "note:" not in capsys.readouterr().err
