"""samhq-amg run again over its own outputs: --skip-existing makes only what an earlier run with
the same settings did not finish, and --overwrite leaves <stem>_masks/ holding exactly the masks
its JSON names (an earlier run's extra masks go, the user's own files stay)."""

import json

import cv2
import pytest

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference import amg_command, mask_folders
from samhq_train.inference.amg_command import main as amg_main

from .amg_reference import disc_image

LOOSE = ["--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--output-mode", "binary_mask"]


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), disc_image())
    return folder


def run(photos, out, points, *extra) -> list[str]:
    argv = ["--images", str(photos), "--out", str(out), "--points-per-side", str(points)]
    assert amg_main(argv + LOOSE + list(extra)) == 0
    return [a["segmentation"] for a in json.loads((out / "a.json").read_text())["annotations"]]


def test_overwrite_leaves_only_this_runs_masks_and_the_users_files(photos, tmp_path):
    out = tmp_path / "out"
    many = run(photos, out, 4)
    (out / "a_masks" / "notes.txt").write_text("the user's own")
    few = run(photos, out, 1, "--overwrite")
    assert len(few) < len(many)
    assert sorted(p.name for p in (out / "a_masks").iterdir()) == sorted(
        [n.split("/")[1] for n in few] + ["notes.txt"]
    )
    assert (out / "a_masks" / "notes.txt").read_text() == "the user's own"


def test_skip_existing_makes_only_what_is_missing(photos, tmp_path, capsys):
    out = tmp_path / "out"
    run(photos, out, 2)
    a_json = (out / "a.json").read_bytes()
    (out / "b_overlay.png").unlink()  # b begun (its JSON recorded these settings), not finished
    capsys.readouterr()
    run(photos, out, 2, "--skip-existing")
    assert f"skipping 1 of 2 images: their masks are in {out} already" in capsys.readouterr().err
    assert (out / "a.json").read_bytes() == a_json and (out / "b_overlay.png").is_file()


def test_skip_existing_refuses_outputs_of_other_settings(photos, tmp_path, capsys):
    out = tmp_path / "out"
    run(photos, out, 2)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as stop:
        run(photos, out, 3, "--skip-existing", "--checkpoint", str(tmp_path / "never_read.pth"))
    assert stop.value.code == SETUP_ERROR_EXIT
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {out / 'a.json'} was written with other settings (")
    assert "--points-per-side 2 (now 3)" in err and "pass --overwrite" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_skip_existing_refuses_a_file_it_did_not_write(photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_overlay.png").write_bytes(b"the user's own picture")
    with pytest.raises(SystemExit) as stop:
        run(photos, out, 2, "--skip-existing")
    assert stop.value.code == SETUP_ERROR_EXIT
    assert f"{out / 'a_overlay.png'} already exists: pass --overwrite as well to replace it (the " \
        "finished images are still skipped)" in capsys.readouterr().err
    assert (out / "a_overlay.png").read_bytes() == b"the user's own picture"


def test_ctrl_c_in_an_overwrite_run_then_skip_existing_finishes_it(photos, tmp_path, capsys,
                                                                    monkeypatch):
    """New settings over an earlier run's outputs (--overwrite), stopped at b: the same command
    with --skip-existing keeps a (made with these settings) and redoes b and c, whose files are
    the earlier run's."""
    cv2.imwrite(str(photos / "c.png"), disc_image())
    out = tmp_path / "out"
    run(photos, out, 4)
    real = mask_folders.write_png

    def ctrl_c_at_b_overlay(path, picture):
        if path.name == "b_overlay.png":
            raise KeyboardInterrupt
        real(path, picture)

    monkeypatch.setattr(amg_command, "write_png", ctrl_c_at_b_overlay)
    with pytest.raises(SystemExit) as stop:
        run(photos, out, 1, "--overwrite")
    assert stop.value.code == 130
    again = "run the same command with --skip-existing to make the rest"
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(again)
    monkeypatch.undo()
    a_files = {p: p.read_bytes() for p in out.glob("a*") if p.is_file()}
    run(photos, out, 1, "--overwrite", "--skip-existing")
    assert f"skipping 1 of 3 images: their masks are in {out} already" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.glob("a*") if p.is_file()} == a_files
    for stem in "bc":
        coco = json.loads((out / f"{stem}.json").read_text())
        assert coco["info"]["samhq_amg"]["points_per_side"] == 1
        named = sorted(a["segmentation"] for a in coco["annotations"])
        assert named == sorted(f"{stem}_masks/{p.name}" for p in (out / f"{stem}_masks").iterdir())


def test_overwrite_stopped_in_the_masks_keeps_the_earlier_result_whole(photos, tmp_path,
                                                                      monkeypatch):
    """Ctrl-C (or a full disk) while --overwrite writes a's masks: a's earlier JSON and masks
    stay together, so the next --overwrite still knows which masks were samhq-amg's."""
    out = tmp_path / "out"
    run(photos, out, 4)
    earlier = (out / "a.json").read_bytes()
    real = mask_folders.write_png

    def ctrl_c_in_a_masks(path, picture):
        if path.parent.name.startswith(".a_masks."):  # the temporary folder of a's masks
            raise KeyboardInterrupt
        real(path, picture)

    monkeypatch.setattr(mask_folders, "write_png", ctrl_c_in_a_masks)
    with pytest.raises(SystemExit):
        run(photos, out, 1, "--overwrite")
    monkeypatch.undo()
    assert (out / "a.json").read_bytes() == earlier
    few = run(photos, out, 1, "--overwrite")
    assert sorted(p.name for p in (out / "a_masks").iterdir()) == sorted(
        n.split("/")[1] for n in few
    )


def test_overwrite_keeps_a_users_mask_that_the_json_was_edited_to_name(photos, tmp_path):
    """Only names as samhq-amg gives them (<stem>_masks/0000.png) in an earlier JSON are taken
    as its masks: a user's own mask, added to the JSON by hand, stays."""
    out = tmp_path / "out"
    run(photos, out, 2)
    coco = json.loads((out / "a.json").read_text())
    coco["annotations"].append({"id": 99, "segmentation": "a_masks/mine.png"})
    (out / "a.json").write_text(json.dumps(coco))
    (out / "a_masks" / "mine.png").write_bytes(b"the user's own mask")
    run(photos, out, 2, "--overwrite")
    assert (out / "a_masks" / "mine.png").read_bytes() == b"the user's own mask"


def test_skip_existing_refuses_the_result_of_another_image_of_the_same_name(photos, tmp_path,
                                                                           capsys):
    """a.png's masks are not a.jpg's: another image with the stem of a finished one is refused,
    not skipped."""
    out = tmp_path / "out"
    run(photos, out, 2)
    (photos / "a.png").rename(photos / "a.jpg")
    with pytest.raises(SystemExit) as stop:
        run(photos, out, 2, "--skip-existing")
    assert stop.value.code == SETUP_ERROR_EXIT
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{out / 'a.json'} was made from another image (a.png): give another --out" in err
