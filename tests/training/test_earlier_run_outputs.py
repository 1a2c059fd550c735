"""A run started in the output folder of an earlier run refuses, before any work, to write over
that run's checkpoints or exports (Lightning would replace checkpoints/last.ckpt in silence)."""

import pytest
from omegaconf import OmegaConf

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.output_check import OutputError
from samhq_train.run.checks import check_outputs
from samhq_train.train import train
from tests.training.concept.concept_run import concept_cfg, concept_files  # noqa: F401
from tests.training.video.test_video_run import video_cfg


def run_cfg(out, **settings):
    return OmegaConf.create({"paths": {"output_dir": str(out)}, "export": True, "train": True,
                             "model": {"variant": "vit_demo", "policy": "hq"}, **settings})


def earlier_run(out):
    (out / "checkpoints").mkdir(parents=True)
    for name in ("best.ckpt", "last.ckpt"):
        (out / "checkpoints" / name).write_bytes(b"an earlier run's weights")
    return out / "checkpoints"


def test_a_new_run_refuses_an_earlier_runs_checkpoints_and_names_the_resume(tmp_path):
    folder = earlier_run(tmp_path)
    with pytest.raises(OutputError, match=(
            rf"{folder} holds an earlier run's checkpoints \(best.ckpt, last.ckpt\), .*: resume "
            rf"it with ckpt_path={folder / 'last.ckpt'}, or give another paths.output_dir")):
        check_outputs(run_cfg(tmp_path))
    check_outputs(run_cfg(tmp_path, ckpt_path=str(folder / "last.ckpt")))  # resuming it
    elsewhere = earlier_run(tmp_path / "other") / "last.ckpt"
    with pytest.raises(OutputError, match=rf"paths.output_dir \(ckpt_path={elsewhere} is another"):
        check_outputs(run_cfg(tmp_path, ckpt_path=str(elsewhere)))  # would replace this folder's
    check_outputs(run_cfg(tmp_path, train=False))  # validation only writes no checkpoint
    assert (folder / "last.ckpt").read_bytes() == b"an earlier run's weights"


def test_an_interrupted_run_is_named_when_it_left_no_last_checkpoint(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "interrupted.ckpt").write_bytes(b"")
    with pytest.raises(OutputError, match=r"ckpt_path=.*interrupted\.ckpt"):
        check_outputs(run_cfg(tmp_path))


def test_a_video_or_concept_export_is_not_written_over(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "x_video.pt").write_bytes(b"")
    with pytest.raises(OutputError, match=r"x_video\.pt already exists: .* or export=false"):
        check_outputs(run_cfg(tmp_path), ["x_video.pt"])
    check_outputs(run_cfg(tmp_path), ["x_concept.pt"])


def test_video_and_concept_runs_check_their_outputs_before_building_anything(tmp_path,
                                                                             monkeypatch,
                                                                             concept_files):  # noqa: F811
    earlier_run(tmp_path)
    for run in ("train_video", "train_concept"):
        monkeypatch.setattr(f"samhq_train.train.{run}", lambda *a: pytest.fail("trained"))
    # real clips: the data is checked before the outputs
    clips = write_moving_shapes(tmp_path / "clips", num_videos=1, num_frames=5, size=32,
                                num_objects=1)
    with pytest.raises(OutputError, match="holds an earlier run's checkpoints"):
        train(video_cfg(tmp_path, clips))
    # real files: the config and data are checked before the outputs
    with pytest.raises(OutputError, match="holds an earlier run's checkpoints"):
        train(concept_cfg(tmp_path, concept_files))
