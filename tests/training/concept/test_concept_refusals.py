"""Each bad setting of a concept fine-tune is one line naming its key, before the model is read
(the detector check right after it), through train(cfg) as `python train.py` runs it."""

import pytest

from samhq_train.errors import UserError
from samhq_train.train import train

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

REFUSED = [
    (["model=vit_demo"], "concept fine-tuning trains SAM 3's text detector"),
    (["trainer.precision=64"], "trainer.precision=64"),
    (["concept.policy=hq"], "concept.policy=hq: expected one of full, detector, detector\\+lora"),
    (["concept.policy=detector+lora", "concept.lora.targets=everything"], "concept.lora.targets"),
    (["+concept.lr=1.0"], "concept.lr is not a setting"),
    (["concept.weight_decay=-1"], "concept.weight_decay=-1"),
    (["concept.with_masks=maybe"], "concept.with_masks=maybe"),
    (["concept.bpe=null"], "concept.bpe is not set"),
    (["concept.bpe=/nonexistent/bpe.txt.gz"], "/nonexistent/bpe.txt.gz"),
    (["data.concept_demo=null", "data.root=/nonexistent"], "data.root[=:] ?/nonexistent"),
    (["data.concept_demo=null", "data.root=null"], "data.root is not set"),
    (["data.resolution=512"], "data.resolution=512: the model takes 224 x 224"),
    (["data.min_scale=1000"], "data.min_scale=1000"),
    (["model.checkpoint=/nonexistent/sam3.pt"], "model.checkpoint=/nonexistent/sam3.pt: no such"),
    (["ckpt_path=/nonexistent/last.ckpt"], "ckpt_path=/nonexistent/last.ckpt not found: "
     "ckpt_path resumes a run"),
]


@pytest.mark.parametrize("overrides, message", REFUSED)
def test_refused_in_one_line(tmp_path, concept_files, overrides, message):  # noqa: F811
    with pytest.raises(UserError, match=message) as err:
        train(concept_cfg(tmp_path, concept_files, *overrides))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "checkpoints").exists()


def test_a_file_without_the_detector_is_refused(tmp_path, concept_files):  # noqa: F811
    overrides = [f"model.checkpoint={concept_files['interactive_only']}",
                 "concept.init_missing_detector=false"]
    with pytest.raises(UserError, match="has no concept detector.*init_missing_detector=true"):
        train(concept_cfg(tmp_path, concept_files, *overrides))
