"""SAM-HQ's official train.py saves the HQ decoder alone each epoch (epoch_<n>.pth: its
MaskDecoderHQ's state_dict, SAM's decoder and the HQ parts under no module name; the merged
sam_hq_epoch_<n>.pth only when training ends). Read as `hq_decoder`: on top of the SAM file it
trained on, it makes the model that merge would; alone, or as the weights a run starts from, it is
refused in one line saying what to give."""

import pytest
import torch

from samhq_train.model import (
    CheckpointError,
    Use,
    build_sam_hq,
    inspect,
    load_checkpoint,
    save_checkpoint,
    without_hq,
)
from tests.reference import random_tiny_model

HOLDS = "holds only SAM-HQ's mask decoder (SAM-HQ's train.py saves it alone as epoch_<n>.pth)"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hq_decoder")
    trained = random_tiny_model(seed=0)
    decoder = {
        k[len("mask_decoder."):]: v
        for k, v in trained.state_dict().items() if k.startswith("mask_decoder.")
    }
    torch.save(decoder, folder / "epoch_11.pth")
    sam = without_hq(build_sam_hq("vit_demo", seed=5).state_dict())
    torch.save(sam, folder / "sam_vit_demo.pth")
    return trained, sam, folder / "epoch_11.pth", folder / "sam_vit_demo.pth"


def test_the_decoder_on_its_sam_file_is_the_merged_model(files):
    trained, sam, epoch, base = files
    info = inspect(epoch)
    assert (info.format, info.family, info.variant, info.needs_base) == (
        "hq_decoder", "sam1", "vit_demo", True
    )
    loaded = load_checkpoint(epoch, base_checkpoint=base).state_dict()
    merged = {**sam, **{k: v for k, v in trained.state_dict().items()
                        if k.startswith("mask_decoder.")}}
    assert set(loaded) == set(merged)
    assert all(torch.equal(loaded[k], merged[k]) for k in merged)


def test_the_decoder_alone_asks_for_its_base(files):
    _, _, epoch, _ = files
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(epoch)
    assert str(err.value) == (
        f"{epoch} {HOLDS}: also give the base it was trained on (base_checkpoint=<file>), the "
        "SAM file or a SAM-HQ file of vit_demo"
    )


def test_the_decoder_is_not_weights_to_start_training_from(files):
    _, _, epoch, _ = files
    with pytest.raises(CheckpointError) as err:
        inspect(epoch, use=Use.START, setting="model.checkpoint")
    assert str(err.value).startswith(
        f"model.checkpoint={epoch} {HOLDS}: it only makes a model together with the base it was "
        f"trained on; to train on from it, merge it into that base first (samhq-export "
        f"--checkpoint {epoch} --base <that base file> --to sam_hq"
    )


def test_the_merged_export_starts_a_run(files, tmp_path):
    _, _, epoch, base = files
    merged = save_checkpoint(load_checkpoint(epoch, base_checkpoint=base), tmp_path / "m.pth",
                             "sam_hq")
    assert inspect(merged, use=Use.START).format == "sam_hq"
