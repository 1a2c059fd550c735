"""Mutation audit (round 25) of samhq-app's --bpe check on the checkpoint's header: the --format
given is the one the header is read with (a SAM 1 file under a name no format is told from is
refused as SAM 1 before the model is read, as a named .safetensors one is)."""

import shutil

import pytest

from samhq_train.app import command as app_command
from samhq_train.app.command import main as app_main
from samhq_train.constants import DEMO_BASE_DIR
from tests.model.sam3.concept.synthetic_bpe import write_merges_file


def test_bpe_with_a_formatted_sam1_file_is_refused_from_its_header(tmp_path, monkeypatch, capsys):
    bpe = tmp_path / "bpe.txt.gz"
    write_merges_file(bpe)
    weights = tmp_path / "weights.bin"
    shutil.copy(DEMO_BASE_DIR / "vit_demo_base.safetensors", weights)

    def not_reached(*args, **kwargs):
        raise AssertionError("the model was read before the --bpe check")

    monkeypatch.setattr(app_command, "load_segmenter", not_reached)
    with pytest.raises(SystemExit) as exit_info:
        app_main([str(weights), "--format", "safetensors", "--bpe", str(bpe), "--port", "0"],
                 serve=False)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --bpe with weights.bin: it holds a vit_demo_base model "
                           "(sam1 family)"), line
