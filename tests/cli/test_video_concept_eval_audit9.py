"""Mutation audit (round 9) of samhq-video-concept-eval's --pred path (no model): the scores
record equal to Meta's three evaluators (per pair too), the printed counts and table, the files
written, and the refusals of its flags and outputs, in one line, exit 2."""

import json

import pytest

pytest.importorskip("sam3")

from samhq_train.cli import video_concept_eval  # noqa: E402
from tests.cli.test_video_concept_eval import assert_as_meta  # noqa: E402
from tests.evaluation.concept_video_data import synthetic_veval  # noqa: E402
from tests.evaluation.meta_concept_eval import write_inputs  # noqa: E402


def test_pred_scores_as_meta_prints_and_writes(tmp_path, capsys):
    gt, preds = synthetic_veval(3, num_videos=2, num_phrases=3)
    preds[0]["score"] = 0.5  # counts for cgF1 (>=), not for pHOTA (>)
    gt_path, pred_path = write_inputs(tmp_path, gt, preds)
    scores, written = tmp_path / "out" / "scores.json", tmp_path / "out" / "pred.json"
    argv = ["--gt", str(gt_path), "--pred", str(pred_path), "--json", str(scores),
            "--write-pred", str(written)]
    record = video_concept_eval.main(argv)
    assert_as_meta(record, gt_path, written)
    assert json.loads(written.read_text()) == preds
    assert json.loads(scores.read_text()) == json.loads(json.dumps({"gt": str(gt_path),
                                                                    **record}))
    out = capsys.readouterr().out
    kept = sum(p["score"] >= 0.5 for p in preds)
    assert 0 < kept < len(preds)
    assert f"{len(preds)} predicted masklets ({kept} of score >= 0.5)" in out
    dataset = record["dataset_results"]
    cgf1 = f"{100 * dataset['video_mask_demo_cgf1_micro_50_95']:14.2f}"
    ilmcc = f"{dataset['video_mask_demo_ilmcc_50_95']:14.4f}"
    assert f"mask cgF1               {cgf1}" in out and f"mask IL_MCC             {ilmcc}" in out
    with pytest.raises(SystemExit) as info:  # the files exist now: refused without --overwrite
        video_concept_eval.main(argv)
    assert info.value.code == 2
    assert "already exists: pass --overwrite" in capsys.readouterr().err
    video_concept_eval.main([*argv, "--overwrite"])


@pytest.mark.parametrize("extra, message", [
    (["--json", "{folder}"], "is a folder; give the file to write"),
    (["--frames", "{folder}"], "--frames goes with --checkpoint"),
    (["--threshold", "0.7", "--out", "x"], "--out goes with --checkpoint"),
])
def test_bad_flags_refused_in_one_line(tmp_path, capsys, extra, message):
    gt, preds = synthetic_veval(3, num_videos=1, num_phrases=1)
    gt_path, pred_path = write_inputs(tmp_path, gt, preds)
    argv = ["--gt", str(gt_path), "--pred", str(pred_path),
            *(e.format(folder=tmp_path) for e in extra)]
    with pytest.raises(SystemExit) as info:
        video_concept_eval.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err


@pytest.mark.parametrize("threshold", ["1.0", "-0.1"])
def test_checkpoint_threshold_out_of_range_refused(tmp_path, capsys, threshold):
    argv = ["--gt", "g.json", "--checkpoint", "m.pt", "--frames", "f", "--out", "o", "--bpe",
            "b.txt.gz", "--threshold", threshold]
    with pytest.raises(SystemExit) as info:
        video_concept_eval.parse_args(argv)
    assert info.value.code == 2
    assert f"--threshold must be in [0, 1), got {float(threshold)}" in capsys.readouterr().err
