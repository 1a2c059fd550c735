"""samhq-predict (samhq_train/cli/predict.py) end to end on the tiny model: its masks, overlays and
predictions.json equal the predictor's, from every checkpoint kind, as a command, in bf16, and
the files it writes (distinct names, never an overwrite)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from samhq_train.inference import SamHQPredictor
from tests.inference.script_exits import exits_with_one_line

ROOT = Path(__file__).resolve().parents[2]


def test_predict_writes_masks_and_overlays_equal_to_the_predictor(
    predict_cli, tiny_files, tmp_path
):
    image = tiny_files["images"] / "a.png"
    results = predict_cli.main(
        [
            str(image),
            "--checkpoint",
            str(tiny_files["full"]),
            "--box",
            "5",
            "10",
            "80",
            "100",
            "--box",
            "0",
            "0",
            "40",
            "40",
            "--point",
            "30",
            "50",
            "1",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
        ]
    )
    predictor = SamHQPredictor(tiny_files["model"])
    predictor.set_image(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB))
    masks, scores, _ = predictor.predict(
        box=np.array([[5, 10, 80, 100], [0, 0, 40, 40]]),
        point_coords=np.array([[30, 50]]),
        point_labels=np.array([1]),
        multimask_output=False,
    )
    entry = results[str(image)]
    assert [Path(p).name for p in entry["masks"]] == ["a_mask0.png", "a_mask1.png"]
    for path, mask in zip(entry["masks"], masks[:, 0]):
        np.testing.assert_array_equal(
            cv2.imread(path, cv2.IMREAD_GRAYSCALE), mask.astype(np.uint8) * 255
        )
    np.testing.assert_allclose(entry["scores"], scores[:, 0], atol=1e-5)
    assert cv2.imread(entry["overlay"]).shape == (120, 90, 3)
    assert json.loads((tmp_path / "predictions.json").read_text()) == results


def test_predict_folder_with_a_json_per_image_from_a_training_checkpoint(
    predict_cli, tiny_files, tmp_path
):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "a.json").write_text(json.dumps({"box": [1, 2, 60, 70]}))
    (prompts / "b.json").write_text(json.dumps({"points": [[10, 20, 1], [50, 40, 0]]}))
    out = tmp_path / "out"
    results = predict_cli.main(
        [
            str(tiny_files["images"]),
            "--checkpoint",
            str(tiny_files["ckpt"]),
            "--prompts",
            str(prompts),
            "--out",
            str(out),
            "--hq-token-only",
            "--device",
            "cpu",
        ]
    )
    assert sorted(Path(k).name for k in results) == ["a.png", "b.png"]
    assert sorted(p.name for p in out.iterdir()) == [
        "a_mask.png",
        "a_overlay.png",
        "b_mask.png",
        "b_overlay.png",
        "predictions.json",
    ]
    assert cv2.imread(str(out / "b_mask.png"), cv2.IMREAD_GRAYSCALE).shape == (64, 100)


def test_predict_runs_as_a_command(tiny_files, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "predict.py"),
            str(tiny_files["images"] / "b.png"),
            "--checkpoint",
            str(tiny_files["full"]),
            "--point",
            "10",
            "20",
            "1",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b_mask.png").is_file() and (tmp_path / "b_overlay.png").is_file()


def test_predict_bf16_on_the_cpu_gives_the_bf16_predictors_masks(predict_cli, tiny_files, tmp_path):
    image = tiny_files["images"] / "a.png"
    box = ["5", "10", "80", "100"]
    argv = [str(image), "--checkpoint", str(tiny_files["full"]), "--box", *box, "--device", "cpu"]
    results = predict_cli.main([*argv, "--bf16", "--out", str(tmp_path)])
    predictor = SamHQPredictor(tiny_files["model"], amp_dtype=torch.bfloat16)
    predictor.set_image(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB))
    masks, scores, _ = predictor.predict(box=np.array([5, 10, 80, 100]), multimask_output=False)
    written = cv2.imread(results[str(image)]["masks"][0], cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(written, masks[0].astype(np.uint8) * 255)
    np.testing.assert_allclose(results[str(image)]["scores"], scores[:1], atol=1e-5)


def test_predict_gives_inputs_with_one_stem_distinct_names(
    predict_cli, tiny_files, tmp_path, capsys
):
    folder, other = tmp_path / "images", tmp_path / "other"
    folder.mkdir(), other.mkdir()
    image = cv2.imread(str(tiny_files["images"] / "a.png"))
    cv2.imwrite(str(folder / "a.png"), image)
    cv2.imwrite(str(folder / "a.jpg"), image)
    cv2.imwrite(str(other / "a.png"), image)
    out = tmp_path / "out"
    argv = [
        str(folder),
        str(other),
        "--checkpoint",
        str(tiny_files["full"]),
        "--box",
        "0",
        "0",
        "40",
        "40",
    ]
    results = predict_cli.main(argv + ["--out", str(out), "--device", "cpu"])
    masks = [Path(r["masks"][0]).name for r in results.values()]
    assert masks == ["a_jpg_mask.png", "a_png_mask.png", "other_a_png_mask.png"]
    assert len(set(r["overlay"] for r in results.values())) == 3
    assert "share the stem 'a'" in capsys.readouterr().err
    assert json.loads((out / "predictions.json").read_text()) == results


def test_predict_never_overwrites_and_refuses_bad_output_folders(
    predict_cli, tiny_files, tmp_path, capsys
):
    argv = [
        str(tiny_files["images"] / "a.png"),
        "--checkpoint",
        str(tiny_files["full"]),
        "--box",
        "0",
        "0",
        "40",
        "40",
        "--device",
        "cpu",
    ]
    out = tmp_path / "out"
    predict_cli.main(argv + ["--out", str(out)])
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    line = exits_with_one_line(predict_cli.main, argv + ["--out", str(out)], capsys)
    assert (
        re.search(r"a_mask.png already exists .*--overwrite", line)
        or "predictions.json already exists" in line
    ), line
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    predict_cli.main(argv + ["--out", str(out), "--overwrite"])
    (tmp_path / "file").write_text("x")
    line = exits_with_one_line(predict_cli.main, argv + ["--out", str(tmp_path / "file")], capsys)
    assert "file is a file, not a folder" in line
    line = exits_with_one_line(
        predict_cli.main, argv + ["--out", str(tmp_path / "no" / "out")], capsys
    )
    assert re.search(r"parent folder .*no does not exist", line), line
    assert not (tmp_path / "no").exists()
