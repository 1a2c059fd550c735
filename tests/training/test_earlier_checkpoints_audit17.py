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
