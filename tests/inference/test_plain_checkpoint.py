"""A checkpoint without trained HQ parts (an official SAM / SAM 2.1 / SAM 3 file, a shipped demo
base): load_checkpoint says so (model.untrained_hq), every inference command decodes it as the
plain model (bitwise what --no-hq gives) after one note line naming the file, SamHQPredictor warns
once, samhq-export notes that the HQ parts it writes are untrained; a SAM-HQ file is unchanged."""

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from samhq_train.app import command as app_command
from samhq_train.app.engine import Options
from samhq_train.cli import export as export_command
from samhq_train.cli import predict as predict_command
from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.inference import AutomaticMaskGenerator, SamHQPredictor
from samhq_train.inference.amg_command import main as amg_main
from samhq_train.inference.video import command as video_command
from samhq_train.model import load_checkpoint, save_checkpoint, without_hq
from tests.inference.video.conftest import write_video
from tests.reference import random_tiny_model

from .amg_reference import disc_image

DEMO_VIT = DEMO_BASE_DIR / "vit_demo_base.safetensors"
DEMO_SAM2 = DEMO_BASE_DIR / "sam2.1_hq_hiera_demo_base.pt"
DEMO_SAM3 = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"
BOX = ["--box", "40", "30", "200", "150"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tests' tiny SAM-HQ (vit_demo, random weights) as a SAM-HQ file and as the plain SAM
    file of the same SAM weights (no HQ keys: format sam), and two images."""
    root = tmp_path_factory.mktemp("plain")
    model = random_tiny_model(seed=3)
    plain = root / "sam_tiny.pth"
    torch.save(without_hq(model.state_dict()), plain)
    hq = save_checkpoint(model, root / "sam_hq_tiny.pth", "sam_hq")
    image = disc_image()
    images = []
    for i in range(2):
        path = root / f"discs{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(np.roll(image, 9 * i, axis=1), cv2.COLOR_RGB2BGR))
        images.append(path)
    return {"plain": plain, "hq": hq, "images": images, "root": root}


def notes(err: str, path) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("note: ") and str(path) in line]


def predict(files, checkpoint, out, capsys, *extra) -> tuple[dict, list[bytes], str]:
    """(predictions.json, the mask PNGs' bytes, stderr) of samhq-predict on both images."""
    capsys.readouterr()
    images = [str(p) for p in files["images"]]
    argv = [*images, "--checkpoint", str(checkpoint), *BOX, "--out", str(out), *extra]
    predict_command.main([*argv, "--device", "cpu"])
    listing = json.loads((out / "predictions.json").read_text())
    masks = [Path(m).read_bytes() for r in listing.values() for m in r["masks"]]
    scores = {Path(k).name: r["scores"] for k, r in listing.items()}
    return scores, masks, capsys.readouterr().err


def test_the_rule_follows_what_the_file_holds(files, tmp_path):
    plain = load_checkpoint(files["plain"]).untrained_hq
    assert str(plain) == f"{files['plain']} holds no HQ parts (a plain SAM checkpoint)"
    assert plain.plain == "SAM"
    assert load_checkpoint(files["hq"]).untrained_hq is None
    hq_only = save_checkpoint(load_checkpoint(files["hq"]), tmp_path / "hq.safetensors", "hq_only")
    assert load_checkpoint(hq_only, base_checkpoint=files["plain"]).untrained_hq is None
    vit = load_checkpoint(DEMO_VIT).untrained_hq
    assert vit.plain == "SAM" and "is a shipped demo base (its HQ parts are untrained)" in str(vit)
    assert load_checkpoint(DEMO_SAM2).untrained_hq.reason == (
        "holds no HQ parts (a plain SAM 2.1 checkpoint)"
    )
    assert load_checkpoint(DEMO_SAM3).untrained_hq.plain == "SAM 3"


def test_predict_decodes_a_plain_file_as_no_hq_with_one_note(files, tmp_path, capsys):
    plain = files["plain"]
    for extra in ([], ["--hq-token-only"], ["--multimask"]):
        scores, masks, err = predict(files, plain, tmp_path / "a", capsys, *extra, "--overwrite")
        assert len(notes(err, plain)) == 1, err  # once for both images
        assert "decoding as plain SAM (no HQ token)" in notes(err, plain)[0]
        no_hq = [e for e in extra if e != "--hq-token-only"]  # refused beside --no-hq
        want_scores, want_masks, err = predict(
            files, plain, tmp_path / "b", capsys, *no_hq, "--no-hq", "--overwrite"
        )
        assert not notes(err, plain)
        assert (scores, masks) == (want_scores, want_masks)
    # --multimask without the HQ token: SAM's best-scored of its 3 masks, one per box
    predictor = SamHQPredictor(load_checkpoint(plain))
    image = cv2.cvtColor(cv2.imread(str(files["images"][1])), cv2.COLOR_BGR2RGB)
    predictor.set_image(image)
    sam, iou, _ = predictor.predict(box=np.array([40, 30, 200, 150]), use_hq=False)
    assert scores["discs1.png"] == [round(float(iou.max()), 6)]
    written = cv2.imread(str(tmp_path / "a" / "discs1_mask.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(written > 0, sam[iou.argmax()])


def test_predict_of_an_hq_file_is_unchanged(files, tmp_path, capsys):
    scores, masks, err = predict(files, files["hq"], tmp_path / "hq", capsys)
    assert "note:" not in err
    predictor = SamHQPredictor(load_checkpoint(files["hq"]))
    for i, path in enumerate(files["images"]):
        predictor.set_image(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
        hq, iou, _ = predictor.predict(box=np.array([[40, 30, 200, 150]]), multimask_output=False)
        mask = cv2.imdecode(np.frombuffer(masks[i], np.uint8), cv2.IMREAD_GRAYSCALE) > 0
        np.testing.assert_array_equal(mask, hq[0, 0])
        assert scores[path.name] == [round(float(iou[0, 0]), 6)]
    no_hq = predict(files, files["hq"], tmp_path / "no_hq", capsys, "--no-hq")[1]
    assert no_hq != masks  # the test can tell the two apart


def test_the_predictor_warns_once_and_decodes_as_asked(files):
    image = disc_image()
    predictor = SamHQPredictor(load_checkpoint(files["plain"]))
    predictor.set_image(image)
    box = np.array([40, 30, 200, 150])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = predictor.predict(box=box, use_hq=False)
        forced = predictor.predict(box=box, use_hq=True)  # asked for: no warning
        assert not caught
        with_hq = predictor.predict(box=box)
        predictor.predict(box=box)
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert caught[0].filename == __file__  # it points at the caller of predict
    assert f"{files['plain']} holds no HQ parts" in str(caught[0].message)
    assert "pass use_hq=False for plain SAM" in str(caught[0].message)
    # decoded as asked: the default is the HQ token (its untrained logits added)
    assert all(np.array_equal(a, b) for a, b in zip(with_hq, forced))
    assert not np.array_equal(with_hq[2], plain[2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for use_hq in (False, True, None):  # the generator decodes with the model itself
            AutomaticMaskGenerator(predictor.model, use_hq=use_hq)
    assert len(caught) == 1 and caught[0].filename == __file__
    hq_predictor = SamHQPredictor(load_checkpoint(files["hq"]))
    hq_predictor.set_image(image)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hq_predictor.predict(box=np.array([40, 30, 200, 150]))


def amg(files, out, capsys, *extra) -> tuple[str, str]:
    capsys.readouterr()
    argv = ["--image", str(files["images"][0]), "--out", str(out), "--points-per-side", "4",
            "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--device", "cpu"]
    assert amg_main([*argv, *extra]) == 0
    found = json.loads((out / "discs0.json").read_text())
    assert found["annotations"]  # masks to compare
    found.pop("info")  # the run's flags, which differ where the masks do not
    return json.dumps(found), capsys.readouterr().err


def test_amg_decodes_a_plain_file_as_no_hq_with_one_note(files, tmp_path, capsys):
    plain = ["--checkpoint", str(files["plain"])]
    masks, err = amg(files, tmp_path / "a", capsys, *plain)
    assert len(notes(err, files["plain"])) == 1, err
    want, err = amg(files, tmp_path / "b", capsys, *plain, "--no-hq")
    assert masks == want and not notes(err, files["plain"])
    hq = ["--checkpoint", str(files["hq"])]
    masks, err = amg(files, tmp_path / "c", capsys, *hq)
    assert "note:" not in err
    assert masks == amg(files, tmp_path / "d", capsys, *hq, "--hq")[0]
    assert masks != amg(files, tmp_path / "e", capsys, *hq, "--no-hq")[0]


def test_amg_keeps_the_demo_base_default(files, tmp_path, capsys):
    """No --checkpoint: the demo base as plain single-mask SAM, as before (now with the note); the
    same for the demo base named explicitly; --hq --multimask still reach its HQ parts."""
    default, err = amg(files, tmp_path / "a", capsys)
    assert len(notes(err, DEMO_VIT)) == 1, err
    explicit = ["--checkpoint", str(DEMO_VIT)]
    assert amg(files, tmp_path / "b", capsys, *explicit)[0] == default
    assert amg(files, tmp_path / "c", capsys, "--no-hq", "--no-multimask")[0] == default
    forced, err = amg(files, tmp_path / "d", capsys, "--hq", "--multimask")
    assert forced != default and "note:" not in err
    copy = tmp_path / "elsewhere.safetensors"  # the rule is the shipped file's bytes, not place
    shutil.copy(DEMO_VIT, copy)
    masks, err = amg(files, tmp_path / "e", capsys, "--checkpoint", str(copy))
    assert masks == default and len(notes(err, copy)) == 1, err


def segmenter(checkpoint):
    return app_command.load_segmenter(app_command.parse_args([str(checkpoint), "--device", "cpu"]))


def test_app_shows_plain_sam_on_both_sides_for_a_plain_file(files, capsys):
    capsys.readouterr()
    plain = segmenter(files["plain"])
    err = capsys.readouterr().err
    assert len(notes(err, files["plain"])) == 1, err
    assert not plain.use_hq and "HQ parts untrained: both sides are plain SAM" in plain.description
    steps = [{"point": [120, 90, 1]}, {"box": [40, 30, 200, 150]}]
    image_id = plain.set_image(disc_image(), "discs")["image_id"]
    result, _ = plain.segment(image_id, steps, Options())
    np.testing.assert_array_equal(result.hq.mask, result.sam.mask)
    assert result.hq.iou == result.sam.iou
    hq = segmenter(files["hq"])
    assert hq.use_hq and "untrained" not in hq.description
    assert "note:" not in capsys.readouterr().err
    image_id = hq.set_image(disc_image(), "discs")["image_id"]
    result, _ = hq.segment(image_id, steps, Options())
    assert not np.array_equal(result.hq.low_res, result.sam.low_res)


def test_video_decodes_a_plain_sam2_file_as_no_hq_with_one_note(tmp_path, capsys):
    frames = write_video(tmp_path / "frames", num_frames=3)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "box": [10, 20, 40, 50]}]))

    def run(out, *extra):
        capsys.readouterr()
        argv = ["--frames", str(frames), "--prompts", str(prompts), "--out", str(tmp_path / out),
                "--checkpoint", str(DEMO_SAM2), "--device", "cpu", *extra]
        assert video_command.main(argv) == 0
        pngs = [p.read_bytes() for p in sorted((tmp_path / out).glob("*.png"))]
        return pngs, capsys.readouterr().err

    masks, err = run("a")
    assert len(masks) == 3 and len(notes(err, DEMO_SAM2)) == 1, err
    assert "decoding as plain SAM 2.1" in notes(err, DEMO_SAM2)[0]
    want, err = run("b", "--no-hq")
    assert masks == want and "note:" not in err


def test_export_of_a_plain_file_notes_the_untrained_hq_parts(files, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "out"
    export_command.main(["--checkpoint", str(files["plain"]), "--to", "sam_hq", "hq_only",
                         "--out", str(out), "--name", "converted"])
    lines = notes(capsys.readouterr().err, files["plain"])
    assert len(lines) == 1 and "HQ parts written to sam_hq, hq_only are untrained" in lines[0]
    export_command.main(["--checkpoint", str(files["hq"]), "--to", "sam_hq", "--out",
                         str(out), "--name", "hq"])
    assert "note:" not in capsys.readouterr().err
    model = load_checkpoint(files["plain"])
    assert export_command.untrained_hq_export_note(model, ["onnx_encoder", "onnx_encoder_fp16"]) \
        is None
    assert "written to onnx are untrained" in export_command.untrained_hq_export_note(
        model, ["onnx_encoder", "onnx"]
    )


@pytest.mark.parametrize(
    ("base", "to", "refusal"),
    [
        (DEMO_VIT, "hq_only", "exists"),  # a target file there already (no --overwrite)
        (DEMO_SAM2, "transformers", "transformers has no sam2 SAM-HQ model"),
    ],
)
def test_an_export_refused_after_loading_a_demo_base_has_no_note(tmp_path, capsys, base, to,
                                                                 refusal):
    """The note on untrained HQ parts is for an export that goes ahead: a refusal that comes after
    the load (the targets' own checks) is the only line."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "demo_hq.safetensors").write_bytes(b"an earlier file")
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        export_command.main(["--checkpoint", str(base), "--to", to, "--out", str(out),
                             "--name", "demo"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and refusal in err, err
    assert "note:" not in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["demo_hq.safetensors"]
