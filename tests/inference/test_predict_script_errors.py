"""samhq-predict on bad input: one clear error line and exit 2 for a bad image, prompt or
checkpoint; unreadable images and unusable prompts of a folder each reported while the others
are predicted."""

import json
import re
from pathlib import Path

import pytest

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.model import save_checkpoint
from tests.inference.script_exits import exits_with_one_line


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
            ["{images}/a.png", "--box", "0", "0", "5", "5", "--base", "{root}/hq.safetensors"],
            "holds a whole model, so the base .*hq.safetensors would be ignored: leave out --base",
        ),
        (
            ["{images}/a.png", "--box", "0", "0", "5", "5", "--variant", "vit_b"],
            "holds a vit_demo model .*but variant vit_b was asked",
        ),
    ],
)
def test_predict_bad_input_exits_with_one_clear_error(
    predict_cli, tiny_files, args, message, capsys
):
    root = tiny_files["root"]
    (root / "broken.png").write_bytes(b"not a png")
    (root / "bad.json").write_text(json.dumps({"boxs": [1, 2, 3, 4]}))
    save_checkpoint(tiny_files["model"], root / "hq.safetensors", "hq_only")
    argv = [a.format(images=tiny_files["images"], root=root) for a in args]
    if "--checkpoint" not in argv:
        argv += ["--checkpoint", str(tiny_files["full"])]
    line = exits_with_one_line(
        predict_cli.main, argv + ["--device", "cpu", "--out", str(root / "out")], capsys
    )
    assert re.search(message, line), line
    assert not (root / "out").exists()  # nothing written, no folder left behind


def test_predict_argument_errors(predict_cli, tiny_files, capsys):
    with pytest.raises(SystemExit):
        predict_cli.main([str(tiny_files["images"]), "--checkpoint", str(tiny_files["full"])])
    assert "no prompt: give --box, --point or --prompts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        predict_cli.main([str(tiny_files["images"]), "--checkpoint", str(tiny_files["full"]),
                          "--point", "10", "10", "7"])
    assert "--point 10 10 7: LABEL must be 1 (foreground) or 0" in capsys.readouterr().err


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
    predict_cli, tiny_files, tmp_path, capsys
):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((tiny_files["images"] / name).read_bytes())
    broken = folder / "aa_broken.png"
    broken.write_bytes(b"not a png")
    argv = [str(folder), "--checkpoint", str(tiny_files["full"]), "--box", "0", "0", "40", "40"]
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
    predict_cli, tiny_files, tmp_path, capsys
):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((tiny_files["images"] / name).read_bytes())
    (folder / "c.png").write_bytes((tiny_files["images"] / "a.png").read_bytes()[:50])  # cut short
    out = tmp_path / "out"
    # a.png is 90 wide, b.png 100: the box lies outside a.png only
    argv = [str(folder), "--checkpoint", str(tiny_files["full"]), "--box", "0", "0", "95", "40"]
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
    predict_cli, tiny_files, tmp_path, capsys
):
    folder, prompts = tmp_path / "images", tmp_path / "prompts"
    folder.mkdir(), prompts.mkdir()
    for name, source in (("a", "a"), ("b", "b"), ("c", "a"), ("d", "b")):
        (folder / f"{name}.png").write_bytes((tiny_files["images"] / f"{source}.png").read_bytes())
    boxes = [[1, 2, 60, 70], [1, 2, 3], [0, 0, 500, 50], [5, 5, 40, 40]]  # a.png is 90 x 120
    (prompts / "a.json").write_text(json.dumps({"boxes": boxes}))
    (prompts / "b.json").write_text(json.dumps({"points": [[10, 20, 7]]}))
    (prompts / "c.json").write_text('{"box": [1, 2, 60, 70],\n "points": [[1, 2 1]]}')
    out = tmp_path / "out"
    argv = [
        str(folder),
        "--checkpoint",
        str(tiny_files["full"]),
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
