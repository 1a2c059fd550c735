"""concept.json's masklet scores are the scores of Meta's SA-Co/VEval predictions: Meta's own
benchmark path (Sam3VideoInference.forward: the phrase on frame 0, propagated forward, each object
shown scored by prep_for_evaluator; YTVISResultsWriter.prepare, as the saco_veval configs write
them through PostProcessNullOp) on the CPU miniature's first 4 frames, against samhq-video
--detect-every-frame on the same file, frames and settings. Each of Meta's masklets is one of
ours with its score; and samhq-video-concept-eval --masks on our folder gives every number --pred
gives on Meta's file, against a GT that makes phrase AP depend on the ranking."""

import json
from types import SimpleNamespace

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from PIL import Image
from sam3.eval.ytvis_eval import YTVISResultsWriter

from samhq_train.cli import video_concept_eval
from samhq_train.inference.video import command
from samhq_train.inference.video.concept_video.session import ConceptVideoSession
from samhq_train.model import load_checkpoint

from .conftest import build_pair
from .meta_video import cpu_patches, meta_video_state
from .test_command_concept_video import command_args
from .test_session_meta import SETTINGS, TEXT

VIDEO_ID, CATEGORY_ID = 7, 1
FRAMES = 4  # the miniature video's first frames


def meta_predictions(concept_video, monkeypatch) -> list[dict]:
    """Meta's benchmark forward on the miniature, as the YT-VIS entries its writer dumps."""
    cpu_patches(monkeypatch)
    meta, _, _ = build_pair(concept_video, SETTINGS.meta_kwargs(), use_hq=False)
    _, bpe, path, video = concept_video
    session = ConceptVideoSession(load_checkpoint(path).eval(), bpe, SETTINGS, use_hq=False)
    session.set_video(video)  # the frames as our loader gives them, for both
    frames, (height, width) = session.tracker.frames[:FRAMES], session.tracker.video_size
    monkeypatch.setattr(meta, "init_state",
                        lambda resource_path: meta_video_state(meta, frames, (height, width)))
    batch = SimpleNamespace(
        find_metadatas=[SimpleNamespace(original_category_id=[CATEGORY_ID],
                                        original_image_id=torch.tensor([VIDEO_ID]))],
        find_text_batch=[TEXT], raw_images=[Image.new("RGB", (width, height))] * FRAMES,
    )
    with torch.inference_mode():
        predictions = meta.forward(batch)
    writer = YTVISResultsWriter.__new__(YTVISResultsWriter)  # prepare() only: no dump folder
    writer.save_per_frame_scores = False
    return writer.prepare(predictions)


def our_folder(concept_video, root) -> list[dict]:
    """samhq-video's run (text on frame 0) into <root>/clip/<category>/; concept.json objects."""
    folder = root / "clip" / str(CATEGORY_ID)
    args = command_args(concept_video, folder)
    args[args.index("--text-frame") + 1] = "0"
    assert command.main([*args, "--max-frames", str(FRAMES)]) == 0
    return json.loads((folder / "concept.json").read_text())["objects"]


def decode(entry: dict) -> np.ndarray:
    return np.stack([mask_utils.decode(rle).astype(bool) for rle in entry["segmentations"]])


def ground_truth(entries: list[dict], height: int, width: int) -> dict:
    """The video, the phrase and a negative one; GT: the lowest-scored of Meta's shown masklets
    (ranked last unless the scores say otherwise)."""
    shown = sorted((e for e in entries if any(e["areas"])), key=lambda e: e["score"])
    gt = shown[0]
    return {
        "videos": [{"id": VIDEO_ID, "height": height, "width": width,
                    "file_names": [f"clip/{t:05d}.jpg" for t in range(FRAMES)]}],
        "annotations": [{"id": 1, "video_id": VIDEO_ID, "category_id": CATEGORY_ID,
                         "iscrowd": 0, "segmentations": gt["segmentations"],
                         "bboxes": gt["bboxes"], "areas": gt["areas"]}],
        "categories": [{"id": CATEGORY_ID, "name": TEXT}],
        "video_np_pairs": [{"video_id": VIDEO_ID, "category_id": CATEGORY_ID}],
    }


def test_masklet_scores_are_meta_benchmark_scores(concept_video, tmp_path, monkeypatch):
    theirs = meta_predictions(concept_video, monkeypatch)
    masks = tmp_path / "masks"
    objects = our_folder(concept_video, masks)
    pictures = np.stack([np.array(Image.open(masks / "clip" / "1" / f"{t:05d}.png"))
                         for t in range(FRAMES)])
    assert len(theirs) == len(objects) >= 3, "a trivial comparison"
    by_value = {o["png_value"]: o for o in objects}
    pairs, flips = [], 0
    for entry in theirs:
        masklet = decode(entry)
        value = max(by_value, key=lambda v: (masklet == (pictures == v)).sum())
        flips += int((masklet != (pictures == value)).sum())
        pairs.append((entry["score"], by_value.pop(value)["masklet_score"]))
    scores = np.array(pairs)
    print(f"{len(pairs)} masklets, scores (Meta's, ours) {pairs}, {flips} flipped pixels")
    assert flips <= 2
    assert np.abs(scores[:, 0] - scores[:, 1]).max() <= 1e-6
    assert len(set(scores[:, 0].round(6))) >= 3, "scores that cannot rank"
    # the folder scored by --masks gives the numbers Meta's predictions give through --pred
    gt_path, pred_path = tmp_path / "gt.json", tmp_path / "meta_preds.json"
    gt_path.write_text(json.dumps(ground_truth(theirs, *pictures.shape[1:])))
    pred_path.write_text(json.dumps(theirs))
    meta_record = video_concept_eval.main(["--gt", str(gt_path), "--pred", str(pred_path)])
    our_record = video_concept_eval.main(["--gt", str(gt_path), "--masks", str(masks)])
    results = meta_record["dataset_results"]
    phrase_ap = next(v for k, v in results.items() if k.endswith("mask_phrase_ap_50_95"))
    print(f"mask phrase AP {phrase_ap}")
    assert 0 < phrase_ap < 1, "AP that does not depend on the ranking"
    assert our_record["dataset_results"] == pytest.approx(results, abs=1e-12, nan_ok=True)
