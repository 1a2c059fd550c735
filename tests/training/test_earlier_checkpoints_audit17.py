"""check_no_earlier_checkpoints with relative paths (as typed on the command line, from the
launch directory): resuming the folder's own last.ckpt is not refused. Mutation audit 17."""

import pytest
from omegaconf import OmegaConf

from samhq_train.output_check import OutputError
from samhq_train.run.checks import check_no_earlier_checkpoints


def test_a_relative_ckpt_path_into_a_relative_output_dir_resumes_it(tmp_path, monkeypatch):
    """Mutants: the output folder or the ckpt_path compared without making it absolute (the
    run resuming its own folder was refused)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out" / "checkpoints").mkdir(parents=True)
    (tmp_path / "out" / "checkpoints" / "last.ckpt").write_bytes(b"an earlier run's weights")
    cfg = {"paths": {"output_dir": "out"}, "train": True}
    resume = {**cfg, "ckpt_path": "out/checkpoints/last.ckpt"}
    check_no_earlier_checkpoints(OmegaConf.create(resume))
    with pytest.raises(OutputError, match=r"holds an earlier run's checkpoints \(last.ckpt\)"):
        check_no_earlier_checkpoints(OmegaConf.create(cfg))


def test_a_ckpt_path_through_dot_dot_or_a_link_resumes_the_same_folder(tmp_path):
    """The same folder spelt with `..` or through a symlink is this folder, not another's (it
    was refused as another folder's: the paths were compared unresolved)."""
    checkpoints = tmp_path / "out" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"an earlier run's weights")
    (tmp_path / "link").symlink_to(tmp_path / "out")
    for output_dir, ckpt_path in [
        (tmp_path / "out", tmp_path / "out" / "x" / ".." / "checkpoints" / "last.ckpt"),
        (tmp_path / "link", checkpoints / "last.ckpt"),
    ]:
        cfg = {"paths": {"output_dir": str(output_dir)}, "train": True, "ckpt_path": str(ckpt_path)}
        check_no_earlier_checkpoints(OmegaConf.create(cfg))
