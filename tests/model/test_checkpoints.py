"""Checkpoint I/O: bit-exact round trips in every format, detection, and clear errors."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from samhq_train.model import (
    FAMILIES,
    CheckpointError,
    Use,
    build_sam_hq,
    detect_format,
    hq_state_dict,
    load_checkpoint,
    read_state_dict,
    save_checkpoint,
)
from tests.reference import official_twin

is_hq_key = FAMILIES["sam1"].is_hq_key

SUFFIX = {"sam_hq": "sam_hq_vit_demo.pth", "safetensors": "full.safetensors", "transformers": "hf_dir"}


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("format", ["sam_hq", "safetensors", "transformers"])
def test_round_trip_is_bit_exact(tmp_path, tiny_model, format):
    path = save_checkpoint(tiny_model, tmp_path / SUFFIX[format], format)
    assert detect_format(path) == format
    assert_same_weights(load_checkpoint(path), tiny_model)


def test_official_sam_hq_file_loads_in_official_package(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "sam_hq_vit_demo.pth", "sam_hq")
    official = official_twin(build_sam_hq("vit_demo"))
    official.load_state_dict(torch.load(path, weights_only=True), strict=True)
    assert_same_weights(official, tiny_model)


def test_official_sam_file_keeps_fresh_hq_parts(tmp_path, tiny_model):
    sam_only = {k: v for k, v in tiny_model.state_dict().items() if not is_hq_key(k)}
    torch.save(sam_only, tmp_path / "sam_vit_tiny.pth")
    assert detect_format(tmp_path / "sam_vit_tiny.pth") == "sam"
    model = build_sam_hq("vit_demo", checkpoint=str(tmp_path / "sam_vit_tiny.pth"), seed=5)
    fresh = build_sam_hq("vit_demo", seed=5)
    for key, value in model.state_dict().items():
        expected = (fresh if is_hq_key(key) else tiny_model).state_dict()[key]
        assert torch.equal(value, expected), key


def test_hq_only_file_applies_onto_a_base(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "hq.safetensors", "hq_only")
    assert detect_format(path) == "hq_only"
    state, _ = read_state_dict(path)
    assert set(state) == set(hq_state_dict(tiny_model))
    base = {k: v for k, v in tiny_model.state_dict().items() if not is_hq_key(k)}
    torch.save(base, tmp_path / "sam_vit_tiny.pth")
    model = load_checkpoint(path, base_checkpoint=tmp_path / "sam_vit_tiny.pth")
    assert_same_weights(model, tiny_model)


def test_lightning_checkpoint_rebuilds_seeded_base(tmp_path):
    trained = build_sam_hq("vit_demo", seed=3)
    with torch.no_grad():
        trained.mask_decoder.hf_token.weight.add_(1.0)
    ckpt = {
        "state_dict": {f"model.{k}": v for k, v in hq_state_dict(trained).items()},
        "samhq": {"variant": "vit_demo", "base_checkpoint": None, "base_sha256": None, "seed": 3},
    }
    torch.save(ckpt, tmp_path / "last.ckpt")
    assert_same_weights(load_checkpoint(tmp_path / "last.ckpt"), trained)


def test_hf_directory_loads_offline_in_transformers(tmp_path, tiny_model):
    from tests.reference import load_transformers_model

    save_checkpoint(tiny_model, tmp_path / "transformers", "transformers")
    config = json.loads((tmp_path / "transformers" / "config.json").read_text())
    assert config["mask_decoder_config"]["layer_norm_eps"] == 1e-5
    hf = load_transformers_model(tmp_path / "transformers")
    assert hf.mask_decoder.hq_token.weight.equal(tiny_model.mask_decoder.hf_token.weight)
    # what transformers writes itself (older versions refuse a file without it)
    with safe_open(str(tmp_path / "transformers" / "model.safetensors"), "pt") as handle:
        assert handle.metadata() == {"format": "pt"}


def test_a_sam_hq_file_read_as_sam_also_fills_the_hq_parts(tmp_path, tiny_model):
    """format=sam expects SAM's tensors; the HQ ones a file holds beyond them are optional."""
    path = save_checkpoint(tiny_model, tmp_path / "sam_hq_vit_demo.pth", "sam_hq")
    assert_same_weights(build_sam_hq("vit_demo", checkpoint=str(path), format="sam"), tiny_model)


def test_save_leaves_no_temporary_files(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path / "a.safetensors", "safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors"]


def test_failed_save_keeps_the_previous_file(tmp_path, tiny_model, monkeypatch):
    path = save_checkpoint(tiny_model, tmp_path / "a.pth", "sam_hq")
    before = path.read_bytes()

    def broken_save(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tiny_model, path, "sam_hq")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth"]


# --- bad input: one clear error naming the path and what was expected ---


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*nope\.pth"):
        load_checkpoint(tmp_path / "nope.pth", "vit_demo")


def test_unknown_format(tmp_path):
    (tmp_path / "weights.xyz").write_text("?")
    with pytest.raises(CheckpointError, match=r"cannot tell the format of .*weights\.xyz"):
        load_checkpoint(tmp_path / "weights.xyz", "vit_demo")
    with pytest.raises(CheckpointError, match="unknown checkpoint format 'onnx'"):
        read_state_dict(tmp_path / "weights.xyz", format="onnx")


def test_folder_that_is_not_a_transformers_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not a transformers SamHQ directory"):
        detect_format(tmp_path)


def test_a_transformers_directory_of_another_model_or_keys_is_one_line(tmp_path, tiny_model):
    directory = save_checkpoint(tiny_model, tmp_path / "transformers", "transformers")
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "sam"}))
    with pytest.raises(CheckpointError, match="has model_type 'sam', expected 'sam_hq'"):
        load_checkpoint(directory)
    (directory / "config.json").write_text(json.dumps(config))
    weights = load_file(str(directory / "model.safetensors"))
    weights["vision_encoder.extra.weight"] = torch.zeros(2)
    save_file(weights, str(directory / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"has 1 keys that SamHQ does not know, first: "
                       r"\['vision_encoder.extra.weight'\]"):
        load_checkpoint(directory)


def test_a_transformers_directory_with_the_prompt_encoders_positional_key_loads(
    tmp_path, tiny_model
):
    """Some transformers versions keep the shared positional matrix under the prompt encoder."""
    directory = save_checkpoint(tiny_model, tmp_path / "transformers", "transformers")
    weights = load_file(str(directory / "model.safetensors"))
    weights["prompt_encoder.shared_embedding.positional_embedding"] = weights.pop(
        "shared_image_embedding.positional_embedding"
    )
    save_file(weights, str(directory / "model.safetensors"), metadata={"format": "pt"})
    assert_same_weights(load_checkpoint(directory), tiny_model)


def test_damaged_torch_file(tmp_path):
    (tmp_path / "sam_vit_b.pth").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match=r"could not read .*sam_vit_b\.pth as a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "sam_vit_b.pth", "vit_b")


def _bad_files(tmp_path, tiny_model) -> dict:
    good = save_checkpoint(tiny_model, tmp_path / "good.pth", "sam_hq").read_bytes()
    ckpt = {"state_dict": {f"model.{k}": v for k, v in hq_state_dict(tiny_model).items()}}
    files = {
        "empty.pth": b"",
        "truncated.pth": good[: len(good) // 2],
        "random.pth": bytes(range(256)) * 8,
        "truncated.ckpt": good[: len(good) // 3],
        "random.ckpt": bytes(range(255, -1, -1)) * 8,
        "random.safetensors": bytes(range(256)) * 8,
        "empty.safetensors": b"",
        "weights.ckpt": good,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    torch.save(ckpt, tmp_path / "training.pth")
    torch.save(ckpt, tmp_path / "training_no_extension")
    (tmp_path / "notes").write_text("hello")
    return files


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.pth", "could not read .*empty.pth as a PyTorch checkpoint: the file is empty"),
        ("truncated.pth", "truncated.pth as a PyTorch checkpoint: the file is truncated or damaged"),
        ("random.pth", "random.pth as a PyTorch checkpoint: it is not a PyTorch file"),
        ("truncated.ckpt", "truncated.ckpt as a training checkpoint: the file is truncated"),
        ("random.ckpt", "random.ckpt as a training checkpoint: it is not a PyTorch file"),
        ("random.safetensors", "could not read .*random.safetensors as safetensors"),
        ("empty.safetensors", "could not read .*empty.safetensors as safetensors .*: the file is "
         "empty \\(0 bytes\\)$"),
        ("weights.ckpt", "weights.ckpt holds plain model weights .*rename it to .pth"),
        ("training.pth", "training.pth is a training checkpoint .*rename it to .ckpt"),
        ("training_no_extension", "training_no_extension is a training checkpoint without the .ckpt"),
        ("notes", "cannot tell the format of .*notes: it is neither a PyTorch file"),
    ],
)
def test_bad_or_wrong_kind_of_file_is_one_line_naming_it(tmp_path, tiny_model, name, message):
    _bad_files(tmp_path, tiny_model)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(tmp_path / name)
    text = str(info.value)
    assert "\n" not in text and "weights_only" not in text and len(text) < 400, text


def test_a_format_given_that_the_file_is_not_names_the_detected_one(tmp_path, tiny_model):
    """format= (--format) of another kind than the file: the advice is the format, not a rename
    (the file's name was right: "rename it to .pth" was said of a .pth file)."""
    path = save_checkpoint(tiny_model, tmp_path / "weights.pth", "sam_hq")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, format="lightning")
    assert str(info.value) == (
        f"{path} is a sam_hq checkpoint, not lightning as the format given says: leave the format "
        "out (it is detected from the file), or pass format=sam_hq (--format sam_hq)"
    )


def test_a_weights_file_without_extension_is_detected(tmp_path, tiny_model):
    path = tmp_path / "sam_hq_weights"
    path.write_bytes(save_checkpoint(tiny_model, tmp_path / "w.pth", "sam_hq").read_bytes())
    assert detect_format(path) == "sam_hq"
    assert_same_weights(load_checkpoint(path), tiny_model)


def test_wrong_variant_names_the_variant_of_the_file(tmp_path):
    with torch.device("meta"):
        vit_l = build_sam_hq("vit_l")
    # shapes are what detection reads: save the two tensors it looks at, plus the block count
    state = {k: torch.zeros(v.shape) for k, v in vit_l.state_dict().items() if ".blocks.23." in k or "patch_embed" in k}
    torch.save(state, tmp_path / "sam_vit_l_0b3195.pth")
    with pytest.raises(CheckpointError, match="holds a vit_l model .*but variant vit_b was asked"):
        build_sam_hq("vit_b", checkpoint=str(tmp_path / "sam_vit_l_0b3195.pth"))


def test_missing_and_unexpected_keys_are_listed(tmp_path, tiny_model):
    state = dict(tiny_model.state_dict())
    state.pop("mask_decoder.iou_token.weight")
    state["mask_decoder.extra_head.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "sam_hq_vit_demo.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "sam_hq_vit_demo.pth", "vit_demo")
    message = str(err.value)
    assert "sam_hq_vit_demo.pth" in message
    assert "1 missing keys, first: ['mask_decoder.iou_token.weight']" in message
    assert "1 unexpected keys, first: ['mask_decoder.extra_head.weight']" in message


def test_wrong_shapes_are_listed(tmp_path, tiny_model):
    state = dict(tiny_model.state_dict())
    state["mask_decoder.iou_token.weight"] = torch.zeros(1, 3)
    save_file(state, str(tmp_path / "full.safetensors"))
    with pytest.raises(CheckpointError, match=r"mask_decoder\.iou_token\.weight: file \(1, 3\) vs model \(1, 64\)"):
        load_checkpoint(tmp_path / "full.safetensors", "vit_demo")


def test_hq_only_without_base(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "hq.safetensors", "hq_only")
    with pytest.raises(CheckpointError, match="holds only the HQ parameters: also give the base it was trained on"):
        load_checkpoint(path)


def test_lightning_checkpoint_with_moved_base(tmp_path):
    ckpt = {"state_dict": {}, "samhq": {"variant": "vit_demo", "base_checkpoint": str(tmp_path / "gone.pth")}}
    torch.save(ckpt, tmp_path / "last.ckpt")
    with pytest.raises(CheckpointError, match=r"trained on base checkpoint .*gone\.pth, which is not there"):
        load_checkpoint(tmp_path / "last.ckpt")


def test_random_model_is_reproducible_by_seed():
    assert_same_weights(build_sam_hq("vit_demo", seed=9), build_sam_hq("vit_demo", seed=9))


def test_earlier_format_name_hf_is_still_accepted(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "hf_dir", "hf")
    state, format = read_state_dict(path, "hf")
    assert format == "transformers"
    assert all(torch.equal(state[k], v) for k, v in tiny_model.state_dict().items())


def test_a_legacy_pickle_weights_file_is_detected_and_its_truncation_named(tmp_path, tiny_model):
    """torch.save's pre-1.6 format (a pickle, first byte 0x80): found without an extension;
    cut short in its tensors (torch's "unexpected EOF") or in its pickle (EOFError), it is a
    truncated file."""
    path = tmp_path / "legacy_weights"
    torch.save(tiny_model.state_dict(), path, _use_new_zipfile_serialization=False)
    assert detect_format(path) == "sam_hq"
    assert_same_weights(load_checkpoint(path), tiny_model)
    data = path.read_bytes()
    for part in (2, 50):
        cut = tmp_path / f"cut_{part}.pth"
        cut.write_bytes(data[: len(data) // part])
        with pytest.raises(CheckpointError, match="the file ends early \\(truncated: copy"):
            load_checkpoint(cut)


def test_a_problem_with_another_file_is_not_worded_as_the_setting(tmp_path):
    from samhq_train.model.formats import setting_named
    from samhq_train.model.formats.errors import FileProblem

    named, other = tmp_path / "a.pth", tmp_path / "b.pth"
    with pytest.raises(CheckpointError) as info, setting_named("model.checkpoint", named, Use.START):
        raise FileProblem(named, "is broken")
    assert str(info.value).startswith(f"model.checkpoint={named} is broken: model.checkpoint takes")
    with pytest.raises(FileProblem) as info, setting_named("model.checkpoint", named, Use.START):
        raise FileProblem(other, "is broken")
    assert str(info.value) == f"{other} is broken"
    with pytest.raises(FileProblem), setting_named("model.checkpoint", None, Use.START):
        raise FileProblem(named, "is broken")
