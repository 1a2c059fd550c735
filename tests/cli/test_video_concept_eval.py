"""samhq-video-concept-eval end to end: the video concept model miniature (the sam3.pt-layout file
of tests/inference/video/concept_video) run over a SA-Co/VEval-style GT's video x phrase pairs,
scored, and the numbers equal to Meta's VideoCGF1Evaluator, VideoPhraseApEvaluator and
VideoPhraseHotaEvaluator on the predictions the command wrote;
the --masks converter on hand-made samhq-video outputs; bad input one error line, exit 2, before
the model loads."""

import json

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from PIL import Image

pytest.importorskip("sam3")

from samhq_train.cli import video_concept_eval  # noqa: E402
from samhq_train.evaluation.video.concept_inputs import (  # noqa: E402
    ConceptInputError,
    read_ground_truth,
)
from samhq_train.evaluation.video.concept_masks import predictions_from_masks  # noqa: E402
from samhq_train.inference.video import command  # noqa: E402
from samhq_train.inference.video.command import davis_palette  # noqa: E402
from tests.evaluation.concept_video_data import masklet_entry  # noqa: E402
from tests.evaluation.meta_concept_eval import (  # noqa: E402
    meta_video_cgf1,
    meta_video_phrase_ap,
    meta_video_phrase_hota,
)
from tests.inference.video.concept_video.meta_video import build_meta_video_model  # noqa: E402
from tests.inference.video.concept_video.test_session_meta import SETTINGS, TEXT  # noqa: E402
from tests.inference.video.conftest import VIDEO_HW, write_video  # noqa: E402
from tests.model.sam3.concept.synthetic_bpe import write_merges_file  # noqa: E402

NUM_FRAMES = 2
PHRASES = {1: TEXT, 2: "a purple giraffe"}


def square(frame: int) -> np.ndarray:
    """write_video's bright square on `frame`."""
    mask = np.zeros(VIDEO_HW, bool)
    mask[20:50, 10 + 8 * frame: 40 + 8 * frame] = True
    return mask


def veval_gt() -> dict:
    """One video (SA-Co/VEval's file names: <video>/<frame>.jpg); TEXT's GT is the square, the
    other phrase a negative pair."""
    video = {"id": 1, "video_name": "clip", "height": VIDEO_HW[0], "width": VIDEO_HW[1],
             "file_names": [f"clip/{t:05d}.jpg" for t in range(NUM_FRAMES)]}
    track = [None, *(square(t) for t in range(1, NUM_FRAMES))]  # comes in on frame 1
    annotations = [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                    **masklet_entry(track, True)}]
    pairs = [{"video_id": 1, "category_id": c} for c in PHRASES]
    return {"videos": [video], "annotations": annotations, "video_np_pairs": pairs,
            "categories": [{"id": c, "name": name} for c, name in PHRASES.items()]}


@pytest.fixture(scope="module")
def veval_run(tmp_path_factory):
    """(folder, GT path, command arguments) with the miniature's file, BPE and frames."""
    folder = tmp_path_factory.mktemp("veval")
    bpe = folder / "bpe.txt.gz"
    write_merges_file(bpe)
    _, state = build_meta_video_model(bpe, {})
    torch.save(state, folder / "sam3.pt")
    write_video(folder / "frames" / "clip", num_frames=NUM_FRAMES)
    gt_path = folder / "gt.json"
    gt_path.write_text(json.dumps(veval_gt()))
    settings = folder / "settings.json"
    kwargs = SETTINGS.meta_kwargs()
    threshold = kwargs.pop("score_threshold_detection")
    settings.write_text(json.dumps(kwargs))
    args = ["--gt", str(gt_path), "--frames", str(folder / "frames"), "--checkpoint",
            str(folder / "sam3.pt"), "--bpe", str(bpe), "--device", "cpu", "--threshold",
            str(threshold), "--concept-settings", str(settings)]
    return folder, gt_path, args


def assert_as_meta(record, gt_path, pred_path):
    meta_dataset, meta_pairs = meta_video_cgf1(gt_path, pred_path)
    hota, hota_pairs = meta_video_phrase_hota(gt_path, pred_path)
    meta_dataset = {**meta_dataset, **meta_video_phrase_ap(gt_path, pred_path), **hota}
    for pair, numbers in hota_pairs.items():
        meta_pairs.setdefault(pair, {}).update(numbers)
    assert record["dataset_results"] == pytest.approx(
        {k: float(v) for k, v in meta_dataset.items()}, abs=1e-12, rel=0, nan_ok=True
    )
    ours_pairs = {(r["video_id"], r["category_id"]): r for r in record["video_np_results"]}
    assert set(ours_pairs) == set(meta_pairs)
    for pair, numbers in meta_pairs.items():
        assert {k: ours_pairs[pair][k] for k in numbers} == pytest.approx(numbers, abs=1e-12)


def gt_from_predictions(gt: dict, written: list[dict]) -> dict:
    """The GT with the model's first masklet of each phrase as that phrase's GT, and a third
    phrase asked (its masks folder made empty by hand: an image-level true negative), so that
    cgF1 and IL_MCC are not 0."""
    gt = {**gt, "categories": [*gt["categories"], {"id": 3, "name": "a red kite"}]}
    gt["video_np_pairs"] = [*gt["video_np_pairs"], {"video_id": 1, "category_id": 3}]
    firsts = {e["category_id"]: e for e in reversed(written) if any(e["areas"])}
    gt["annotations"] = [
        {"id": c, "video_id": 1, "category_id": c, "iscrowd": 0,
         "segmentations": e["segmentations"], "bboxes": e["bboxes"], "areas": e["areas"]}
        for c, e in sorted(firsts.items())
    ]
    return gt


def test_checkpoint_run_scores_as_meta_on_its_predictions(veval_run, capsys):
    folder, gt_path, args = veval_run
    out, scores, preds = folder / "masks", folder / "scores.json", folder / "preds.json"
    record = video_concept_eval.main(
        [*args, "--out", str(out), "--json", str(scores), "--write-pred", str(preds)]
    )
    said = capsys.readouterr().out
    assert "2 video x phrase pairs (1 with GT)" in said and "mask cgF1" in said
    written = json.loads(preds.read_text())
    assert written, "nothing predicted: a trivial check"
    assert_as_meta(record, gt_path, preds)
    assert json.loads(scores.read_text())["dataset_results"] == pytest.approx(
        record["dataset_results"], nan_ok=True
    )
    # each pair's folder is what samhq-video --detect-every-frame writes for it
    alone = folder / "alone"
    command.main(["--frames", str(folder / "frames" / "clip"), "--text", TEXT, "--out", str(alone),
                  *args[args.index("--checkpoint"):], "--detect-every-frame"])
    for t in range(NUM_FRAMES):
        assert np.array_equal(np.array(Image.open(out / "clip" / "1" / f"{t:05d}.png")),
                              np.array(Image.open(alone / f"{t:05d}.png"))), t
    objects = json.loads((out / "clip" / "1" / "concept.json").read_text())["objects"]
    assert objects == json.loads((alone / "concept.json").read_text())["objects"]
    # the folders it wrote are what --masks reads, here against a GT the model partly matches
    gt2 = folder / "gt2.json"
    gt2.write_text(json.dumps(gt_from_predictions(json.loads(gt_path.read_text()), written)))
    write_pair(out / "clip" / "3", [np.zeros(VIDEO_HW)] * NUM_FRAMES, [], "a red kite")
    again = video_concept_eval.main(
        ["--gt", str(gt2), "--masks", str(out), "--write-pred", str(folder / "preds2.json")]
    )
    assert json.loads((folder / "preds2.json").read_text()) == written
    assert_as_meta(again, gt2, folder / "preds2.json")
    assert again["dataset_results"]["video_mask_demo_cgf1_micro_50_95"] > 0.1
    assert again["dataset_results"]["video_mask_demo_ilmcc_50_95"] > 0.1


def write_pair(folder, pictures, objects, text=TEXT):
    folder.mkdir(parents=True)
    for t, picture in enumerate(pictures):
        image = Image.fromarray(picture.astype(np.uint8), mode="P")
        image.putpalette(davis_palette())  # as samhq-video writes them
        image.save(folder / f"{t:05d}.png")
    (folder / "concept.json").write_text(json.dumps({"text": text, "objects": objects}))


def test_masks_become_yt_vis_masklets(tmp_path):
    gt_path = tmp_path / "gt.json"
    gt = veval_gt()
    gt["video_np_pairs"] = gt["video_np_pairs"][:1]
    gt_path.write_text(json.dumps(gt))
    pictures = [np.where(square(t), 2, 0) for t in range(NUM_FRAMES)]
    pictures[1][90:, :5] = 1  # the first object shown only on the last frame
    write_pair(tmp_path / "masks" / "clip" / "1", pictures,
               [{"png_value": 1, "score": 0.75},  # a file from before masklet scores
                {"png_value": 2, "score": 0.9, "masklet_score": 0.5}])
    entries = predictions_from_masks(tmp_path / "masks", read_ground_truth(gt_path))
    assert [(e["video_id"], e["category_id"], e["score"]) for e in entries] == [
        (1, 1, 0.75), (1, 1, 0.5)
    ]
    for entry, value in zip(entries, (1, 2)):
        for t, rle in enumerate(entry["segmentations"]):
            assert np.array_equal(mask_utils.decode(rle).astype(bool), pictures[t] == value)
    assert entries[0]["bboxes"][0] == [0.0, 0.0, 0.0, 0.0]
    assert entries[0]["bboxes"][1] == [0.0, 90.0, 4.0, 5.0] and entries[0]["areas"][1] == 30
    assert entries[1]["bboxes"][1] == [18.0, 20.0, 29.0, 29.0]  # Meta's: last - first pixel


@pytest.mark.parametrize("spoil, message", [
    (lambda root: None, "no masks for video 1, phrase 'a striped cat'"),
    (lambda root: write_pair(root / "clip" / "1", [np.zeros(VIDEO_HW)] * 2, [], "a dog"),
     "masks of 'a dog', but this folder's phrase is 'a striped cat'"),
    (lambda root: write_pair(root / "clip" / "1", [np.zeros(VIDEO_HW)], []),
     "00001.png: no such file; every GT frame needs its mask PNG"),
    (lambda root: [write_pair(root / "clip" / "1", [np.zeros(VIDEO_HW)], []),
                   (root / "clip" / "1" / "00001.png").mkdir()],
     "00001.png: a folder, not a file; every GT frame needs its mask PNG"),
    (lambda root: [(root / "clip").mkdir(), (root / "clip" / "1").write_text("")],
     "clip/1: a file, not a folder; samhq-video"),
    (lambda root: write_pair(root / "clip" / "1", [np.zeros((5, 5))] * 2, []),
     "00000.png: 5x5, but the video is 128x96"),
])
def test_bad_masks_refused(tmp_path, spoil, message):
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(veval_gt()))
    (tmp_path / "masks").mkdir()
    spoil(tmp_path / "masks")
    with pytest.raises(ConceptInputError, match=message):
        predictions_from_masks(tmp_path / "masks", read_ground_truth(gt_path))


def test_bad_input_is_one_line_before_the_model_loads(veval_run, tmp_path, capsys):
    _, gt_path, args = veval_run
    no_frames = [*args, "--out", str(tmp_path / "o")]
    no_frames[no_frames.index("--frames") + 1] = str(tmp_path)
    no_frames[no_frames.index("--checkpoint") + 1] = str(tmp_path / "missing.pt")
    for argv, message in [
        (no_frames, "clip/00000.jpg missing (video 1)"),
        (["--gt", str(tmp_path / "nope.json"), "--pred", str(gt_path)], "nope.json: no such file"),
        (["--gt", str(gt_path), "--pred", str(gt_path)], "expected a list of predicted masklets"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            video_concept_eval.main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
