"""The shipped demo bases are found from any working folder: the demo_base model configs name
them through ${demo_base:file} (the project's data/demo_base/), as samhq-app and samhq-amg do."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.app.command import DEMO_CHECKPOINT as APP_DEMO
from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.inference.amg_command import DEMO_CHECKPOINT as AMG_DEMO

ROOT = Path(__file__).resolve().parents[2]
DEMO_BASE_MODELS = sorted(p.stem for p in (CONFIG_DIR / "model").glob("*demo_base.yaml"))


def test_the_folder_is_the_projects():
    assert DEMO_BASE_DIR == ROOT / "data" / "demo_base"
    assert APP_DEMO == AMG_DEMO == DEMO_BASE_DIR / "vit_demo_base.safetensors"


@pytest.mark.parametrize("model", DEMO_BASE_MODELS)
def test_demo_base_configs_name_the_shipped_file_from_any_folder(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the project's folder: a relative path would miss
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        checkpoint = Path(compose("train", overrides=[f"model={model}"]).model.checkpoint)
    assert checkpoint.parent == DEMO_BASE_DIR and checkpoint.is_file()


def test_there_is_one_per_family():
    assert len(DEMO_BASE_MODELS) == 4  # vit, sam2.1 hiera, sam3 (plain and early fusion)
