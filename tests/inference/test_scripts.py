"""samhq-predict and samhq-export (samhq_train/cli/predict.py, export.py) end to end on the tiny
model."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from samhq_train.cli import export as export_command
from samhq_train.cli import predict as predict_command
from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference import SamHQPredictor
from samhq_train.model import (
    FAMILIES,
    build_sam_hq,
    file_sha256,
    hq_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from tests.reference import build_official, randomize_

is_hq_key = FAMILIES["sam1"].is_hq_key

ROOT = Path(__file__).resolve().parents[2]


def exits_with_one_line(main, argv, capsys) -> str:
    """Run a script's main; it must exit with the setup-error code and one stderr line, no
    traceback. Returns that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == SETUP_ERROR_EXIT
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err and "weights_only" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def predict_cli():
    return predict_command


@pytest.fixture(scope="module")
def export_cli():
    return export_command


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A trained-like tiny model: a random frozen base (its official SAM file) + random HQ parts,
    saved as a Lightning training checkpoint, a full safetensors file and images."""
    root = tmp_path_factory.mktemp("cli")
    model = randomize_(build_sam_hq("vit_demo", seed=0), seed=6)
    base = root / "sam_tiny.pth"
    torch.save({k: v for k, v in model.state_dict().items() if not is_hq_key(k)}, base)
    ckpt = root / "last.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in hq_state_dict(model).items()},
            "samhq": {
                "variant": "vit_demo",
                "base_checkpoint": str(base),
                "base_sha256": file_sha256(base),
                "seed": None,
            },
        },
        ckpt,
    )
    full = save_checkpoint(model, root / "full.safetensors", "safetensors")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("a", (120, 90)), ("b", (64, 100))):
        cv2.imwrite(str(images / f"{name}.png"), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return {
        "model": model,
        "base": base,
        "ckpt": ckpt,
        "full": full,
        "images": images,
        "root": root,
    }


def test_predict_writes_masks_and_overlays_equal_to_the_predictor(predict_cli, files, tmp_path):
    image = files["images"] / "a.png"
    results = predict_cli.main(
        [
            str(image),
            "--checkpoint",
            str(files["full"]),
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
    predictor = SamHQPredictor(files["model"])
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
    predict_cli, files, tmp_path
):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "a.json").write_text(json.dumps({"box": [1, 2, 60, 70]}))
    (prompts / "b.json").write_text(json.dumps({"points": [[10, 20, 1], [50, 40, 0]]}))
    out = tmp_path / "out"
    results = predict_cli.main(
        [
            str(files["images"]),
            "--checkpoint",
            str(files["ckpt"]),
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


def test_predict_runs_as_a_command(files, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "predict.py"),
            str(files["images"] / "b.png"),
            "--checkpoint",
            str(files["full"]),
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["{images}/missing.png", "--box", "0", "0", "5", "5"],
            "image file not found: .*missing.png",
        ),
        (["{root}/broken.png", "--box", "0", "0", "5", "5"], "cannot read image file .*broken.png"),
        (
            ["{images}/a.png", "--box", "0", "0", "500", "50"],
            "a.png: box .* lies outside the image",
        ),
        (["{images}/a.png", "--point", "10", "10", "7"], "a.png: point_labels must be 1"),
        (
            ["{images}/a.png", "--prompts", "{root}"],
            "no prompt for image .*a.png: expected the file",
        ),
        (
            ["{images}/a.png", "--prompts", "{root}/bad.json"],
            "prompt file .*bad.json must be a json object",
        ),
        (
            [
                "{images}/a.png",
                "--box",
                "0",
                "0",
                "5",
                "5",
                "--checkpoint",
                "{root}/hq.safetensors",
            ],
            "hq.safetensors holds only the HQ parameters: also give the base it was trained on",
        ),
        (
            ["{images}/a.png", "--box", "0", "0", "5", "5", "--variant", "vit_b"],
            "holds a vit_demo model .*but variant vit_b was asked",
        ),
    ],
)
def test_predict_bad_input_exits_with_one_clear_error(predict_cli, files, args, message, capsys):
    root = files["root"]
    (root / "broken.png").write_bytes(b"not a png")
    (root / "bad.json").write_text(json.dumps({"boxs": [1, 2, 3, 4]}))
    save_checkpoint(files["model"], root / "hq.safetensors", "hq_only")
    argv = [a.format(images=files["images"], root=root) for a in args]
    if "--checkpoint" not in argv:
        argv += ["--checkpoint", str(files["full"])]
    line = exits_with_one_line(
        predict_cli.main, argv + ["--device", "cpu", "--out", str(root / "out")], capsys
    )
    assert re.search(message, line), line
    assert not (root / "out").exists()  # nothing written, no folder left behind


def test_predict_argument_errors(predict_cli, files, capsys):
    with pytest.raises(SystemExit):
        predict_cli.main([str(files["images"]), "--checkpoint", str(files["full"])])
    assert "no prompt: give --box, --point or --prompts" in capsys.readouterr().err


def test_predict_bf16_on_the_cpu_gives_the_bf16_predictors_masks(predict_cli, files, tmp_path):
    image = files["images"] / "a.png"
    box = ["5", "10", "80", "100"]
    argv = [str(image), "--checkpoint", str(files["full"]), "--box", *box, "--device", "cpu"]
    results = predict_cli.main([*argv, "--bf16", "--out", str(tmp_path)])
    predictor = SamHQPredictor(files["model"], amp_dtype=torch.bfloat16)
    predictor.set_image(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB))
    masks, scores, _ = predictor.predict(box=np.array([5, 10, 80, 100]), multimask_output=False)
    written = cv2.imread(results[str(image)]["masks"][0], cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(written, masks[0].astype(np.uint8) * 255)
    np.testing.assert_allclose(results[str(image)]["scores"], scores[:1], atol=1e-5)


def test_export_from_a_training_checkpoint_to_every_target(export_cli, files, tmp_path):
    written = export_cli.main(
        [
            "--checkpoint",
            str(files["ckpt"]),
            "--to",
            "sam_hq",
            "transformers",
            "safetensors",
            "hq_only",
            "onnx",
            "--out",
            str(tmp_path),
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written.values())
    official = build_official("vit_demo")
    official.load_state_dict(torch.load(written["sam_hq"], weights_only=True), strict=True)
    expected = files["model"].state_dict()
    for key, value in official.state_dict().items():
        assert torch.equal(value, expected[key]), key
    for target in ("transformers", "safetensors"):
        reloaded = load_checkpoint(written[target]).state_dict()
        assert all(torch.equal(reloaded[k], v) for k, v in expected.items())


def test_export_from_hq_only_plus_base(export_cli, files, tmp_path):
    hq = save_checkpoint(files["model"], tmp_path / "mine_hq.safetensors", "hq_only")
    written = export_cli.main(
        [
            "--checkpoint",
            str(hq),
            "--base",
            str(files["base"]),
            "--to",
            "sam_hq",
            "--out",
            str(tmp_path / "o"),
            "--name",
            "mine",
        ]
    )
    assert written["sam_hq"].name == "mine.pth"
    state = torch.load(written["sam_hq"], weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in files["model"].state_dict().items())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--checkpoint", "{root}/hq.safetensors"],
            "holds only the HQ parameters: also give the base it was trained on",
        ),
        (
            ["--checkpoint", "{full}", "--variant", "vit_l"],
            "holds a vit_demo model .*but variant vit_l was asked",
        ),
        (
            ["--checkpoint", "{full}", "--format", "hq_only", "--base", "{base}"],
            "full.safetensors \\(read as hq_only\\) does not fit the model",
        ),
        (["--checkpoint", "{root}/nothing.pth"], "checkpoint not found: .*nothing.pth"),
    ],
)
def test_export_bad_checkpoint_exits_with_one_clear_error(
    export_cli, files, tmp_path, extra, message, capsys
):
    save_checkpoint(files["model"], files["root"] / "hq.safetensors", "hq_only")
    argv = [a.format(root=files["root"], full=files["full"], base=files["base"]) for a in extra]
    line = exits_with_one_line(
        export_cli.main, argv + ["--to", "sam_hq", "--out", str(tmp_path)], capsys
    )
    assert re.search(message, line), line
    assert not any(tmp_path.iterdir())


@pytest.fixture
def broken_checkpoints(files, tmp_path):
    """Damaged and wrong-kind checkpoint files (named by case)."""
    good = (files["root"] / "sam_tiny.pth").read_bytes()
    paths = {
        "truncated": tmp_path / "truncated.pth",
        "random": tmp_path / "random.pth",
        "ckpt_named_pth": tmp_path / "train.pth",
        "no_extension": tmp_path / "noext",
    }
    paths["truncated"].write_bytes(good[: len(good) // 2])
    paths["random"].write_bytes(np.random.default_rng(0).bytes(4096))
    paths["ckpt_named_pth"].write_bytes(files["ckpt"].read_bytes())
    paths["no_extension"].write_bytes(files["ckpt"].read_bytes())
    return paths


@pytest.mark.parametrize(
    ("case", "extra", "message"),
    [
        ("truncated", [], "truncated.pth as a PyTorch checkpoint: the file is truncated"),
        ("random", [], "random.pth as a PyTorch checkpoint: it is not a PyTorch file"),
        ("ckpt_named_pth", [], "train.pth is a training checkpoint .*format=lightning"),
        ("no_extension", [], "noext is a training checkpoint without the .ckpt extension"),
    ],
)
@pytest.mark.parametrize("script", ["predict", "export"])
def test_scripts_name_a_broken_checkpoint_in_one_line(
    predict_cli,
    export_cli,
    files,
    broken_checkpoints,
    tmp_path,
    capsys,
    case,
    extra,
    message,
    script,
):
    checkpoint = ["--checkpoint", str(broken_checkpoints[case]), *extra]
    out = ["--out", str(tmp_path / "out")]
    if script == "predict":
        main, argv = predict_cli.main, [str(files["images"] / "a.png"), "--box", "0", "0", "5", "5"]
        argv += ["--device", "cpu"]
    else:
        main, argv = export_cli.main, ["--to", "sam_hq"]
    line = exits_with_one_line(main, argv + checkpoint + out, capsys)
    assert re.search(message, line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["predict", "export"])
def test_scripts_take_a_format_override(
    predict_cli, export_cli, files, broken_checkpoints, tmp_path, script
):
    """A training checkpoint without its extension works with --format lightning."""
    argv = ["--checkpoint", str(broken_checkpoints["no_extension"]), "--format", "lightning"]
    argv += ["--out", str(tmp_path / "out")]
    if script == "predict":
        results = predict_cli.main(
            [
                str(files["images"] / "a.png"),
                "--box",
                "0",
                "0",
                "40",
                "40",
                "--device",
                "cpu",
                *argv,
            ]
        )
        assert len(results) == 1
    else:
        written = export_cli.main(["--to", "sam_hq", *argv])
        state = torch.load(written["sam_hq"], weights_only=True)
        assert all(torch.equal(state[k], v) for k, v in files["model"].state_dict().items())


def test_predict_gives_inputs_with_one_stem_distinct_names(predict_cli, files, tmp_path, capsys):
    folder, other = tmp_path / "images", tmp_path / "other"
    folder.mkdir(), other.mkdir()
    image = cv2.imread(str(files["images"] / "a.png"))
    cv2.imwrite(str(folder / "a.png"), image)
    cv2.imwrite(str(folder / "a.jpg"), image)
    cv2.imwrite(str(other / "a.png"), image)
    out = tmp_path / "out"
    argv = [
        str(folder),
        str(other),
        "--checkpoint",
        str(files["full"]),
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


def error_lines_and_exit(main, argv, capsys) -> list[str]:
    """Run a script's main, which must end with the setup-error code; its stderr error lines."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == SETUP_ERROR_EXIT
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error: ")]


def test_predict_reports_an_unreadable_image_goes_on_and_exits_2(
    predict_cli, files, tmp_path, capsys
):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((files["images"] / name).read_bytes())
    broken = folder / "aa_broken.png"
    broken.write_bytes(b"not a png")
    argv = [str(folder), "--checkpoint", str(files["full"]), "--box", "0", "0", "40", "40"]
    argv += ["--device", "cpu"]
    out = tmp_path / "out"
    err = error_lines_and_exit(predict_cli.main, argv + ["--out", str(out)], capsys)
    assert re.fullmatch(
        rf"error: cannot read image file {re.escape(str(broken))}: .*not a readable image.*", err[0]
    )
    others = f"the masks of the others are in {out} (predictions.json)"
    assert err[1:] == [f"error: 1 unreadable image(s), listed above; {others}"]
    listed = json.loads((out / "predictions.json").read_text())
    assert sorted(Path(k).name for k in listed) == ["a.png", "b.png"]
    assert all(
        Path(r["masks"][0]).is_file() and Path(r["overlay"]).is_file() for r in listed.values()
    )
    # --strict stops at the broken image; what came before it stays listed
    line = exits_with_one_line(
        predict_cli.main, argv + ["--out", str(tmp_path / "strict"), "--strict"], capsys
    )
    assert "aa_broken.png" in line
    listed = json.loads((tmp_path / "strict" / "predictions.json").read_text())
    assert [Path(k).name for k in listed] == ["a.png"]


def test_predict_counts_unreadable_images_and_unusable_prompts_together(
    predict_cli, files, tmp_path, capsys
):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((files["images"] / name).read_bytes())
    (folder / "c.png").write_bytes((files["images"] / "a.png").read_bytes()[:50])  # cut short
    out = tmp_path / "out"
    # a.png is 90 wide, b.png 100: the box lies outside a.png only
    argv = [str(folder), "--checkpoint", str(files["full"]), "--box", "0", "0", "95", "40"]
    err = error_lines_and_exit(
        predict_cli.main, argv + ["--device", "cpu", "--out", str(out)], capsys
    )
    assert re.fullmatch(
        rf"error: {re.escape(str(folder / 'a.png'))}: box .* lies outside the image .*", err[0]
    )
    assert re.fullmatch(
        rf"error: cannot read image file {re.escape(str(folder / 'c.png'))}: .*", err[1]
    )
    others = f"the masks of the others are in {out} (predictions.json)"
    assert err[2:] == [
        f"error: 1 unreadable image(s) and 1 unusable prompt(s), listed above; {others}"
    ]
    assert list(json.loads((out / "predictions.json").read_text())) == [str(folder / "b.png")]


def test_predict_reports_each_unusable_prompt_goes_on_and_exits_2(
    predict_cli, files, tmp_path, capsys
):
    folder, prompts = tmp_path / "images", tmp_path / "prompts"
    folder.mkdir(), prompts.mkdir()
    for name, source in (("a", "a"), ("b", "b"), ("c", "a"), ("d", "b")):
        (folder / f"{name}.png").write_bytes((files["images"] / f"{source}.png").read_bytes())
    boxes = [[1, 2, 60, 70], [1, 2, 3], [0, 0, 500, 50], [5, 5, 40, 40]]  # a.png is 90 x 120
    (prompts / "a.json").write_text(json.dumps({"boxes": boxes}))
    (prompts / "b.json").write_text(json.dumps({"points": [[10, 20, 7]]}))
    (prompts / "c.json").write_text('{"box": [1, 2, 60, 70],\n "points": [[1, 2 1]]}')
    out = tmp_path / "out"
    argv = [
        str(folder),
        "--checkpoint",
        str(files["full"]),
        "--prompts",
        str(prompts),
        "--device",
        "cpu",
    ]
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        predict_cli.main(argv + ["--out", str(out)])
    assert info.value.code == SETUP_ERROR_EXIT
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    a, b, c = (prompts / f"{n}.json" for n in "abc")
    assert err[0] == f"error: {a} boxes[1]: must be [x0, y0, x1, y1], got [1, 2, 3]"
    outside = r"box \[0.0, 0.0, 500.0, 50.0\] lies outside the image of width 90 "
    assert re.fullmatch(rf"error: {folder / 'a.png'}: {a} boxes\[2\]: {outside}.*", err[1])
    label = "point_labels must be 1 (foreground) or 0 (background), got [7.0]"
    assert err[2] == f"error: {folder / 'b.png'}: {b} points: {label}"
    assert re.fullmatch(rf"error: cannot read prompt file {c}: .*line 2 column 19.*", err[3])
    no_file = f"no prompt for image {folder / 'd.png'}: expected the file {prompts / 'd.json'}"
    assert err[4] == f"error: {no_file}"
    others = f"the masks of the others are in {out} (predictions.json)"
    assert err[5] == f"error: 5 unusable prompt(s), listed above; {others}"
    assert len(err) == 6
    listed = json.loads((out / "predictions.json").read_text())
    assert list(listed) == [str(folder / "a.png")]
    assert [Path(m).name for m in listed[str(folder / "a.png")]["masks"]] == [
        "a_mask0.png",
        "a_mask3.png",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "a_mask0.png",
        "a_mask3.png",
        "a_overlay.png",
        "predictions.json",
    ]


def test_predict_never_overwrites_and_refuses_bad_output_folders(
    predict_cli, files, tmp_path, capsys
):
    argv = [
        str(files["images"] / "a.png"),
        "--checkpoint",
        str(files["full"]),
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


def test_export_refuses_existing_targets_and_cleans_up_after_a_failure(
    export_cli, files, tmp_path, capsys, monkeypatch
):
    argv = [
        "--checkpoint",
        str(files["full"]),
        "--to",
        "sam_hq",
        "hq_only",
        "--out",
        str(tmp_path / "out"),
    ]
    written = export_cli.main(argv)
    stamp = written["sam_hq"].stat().st_mtime_ns
    line = exits_with_one_line(export_cli.main, argv, capsys)
    assert re.search(
        r"sam_hq_vit_demo.pth already exists \(and 1 more\): pass --overwrite", line
    ), line
    assert written["sam_hq"].stat().st_mtime_ns == stamp
    export_cli.main(argv + ["--overwrite"])
    line = exits_with_one_line(export_cli.main, argv[:-1] + [str(written["sam_hq"])], capsys)
    assert "sam_hq_vit_demo.pth is a file, not a folder" in line

    import samhq_train.inference.export as export_module

    def broken_check(*args, **kwargs):
        raise RuntimeError("onnxruntime differs (simulated)")

    monkeypatch.setattr(export_module, "check_onnx", broken_check)
    target = tmp_path / "fresh" / "out"
    (tmp_path / "fresh").mkdir()
    argv = ["--checkpoint", str(files["full"]), "--to", "sam_hq", "onnx", "--out", str(target)]
    with pytest.raises(RuntimeError, match="simulated"):  # not a user error: its traceback stays
        export_cli.main(argv)
    assert not target.exists()  # the .pth written before the failure was removed, and the folder
