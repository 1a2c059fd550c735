"""Shared pieces of the concept fine-tuning run tests: a SAM 3 miniature file with a drawn detector
and its merges file (tests/model/sam3/concept/ours_file.py), a tiny concept demo set, and the
run's config composed from conf/train.yaml with experiment=concept_demo."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.data.demo_concepts import ensure_concept_demo
from tests.model.sam3.concept.ours_file import write_sam3_with_detector
from tests.training.helpers import CONF

DEMO = {"num_train": 2, "num_val": 2, "size": 64, "seed": 0}
# a few seconds per run on 2 CPU cores: two training images, two validation images
SHORT = [f"data.concept_demo.{k}={v}" for k, v in DEMO.items()] + [
    "trainer.max_epochs=1",
    "trainer.check_val_every_n_epoch=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.log_every_n_steps=1",
]


def concept_cfg(out: Path, files: dict, *overrides: str):
    """experiment=concept_demo on the drawn SAM 3 file (detector included) and its merges."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[
            "experiment=concept_demo", f"paths.output_dir={out}",
            f"model.checkpoint={files['checkpoint']}", f"concept.bpe={files['merges']}",
            f"data.root={files['data']}", *SHORT, *overrides])


@pytest.fixture(scope="session")
def concept_files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("concept_files")
    checkpoint, merges = write_sam3_with_detector(folder)
    interactive_only, _ = write_sam3_with_detector(folder, with_detector=False)
    data = ensure_concept_demo(folder / "data", **DEMO)
    return {"checkpoint": checkpoint, "merges": merges, "data": data,
            "interactive_only": interactive_only}
