"""The format records and inspect(): what each kind of file is and may be used for, asked in one
place; every writable format reads back exactly the tensors its record expects; a file is read
once."""

import pytest
import torch
from safetensors.torch import save_file

from samhq_train.errors import UserError
from samhq_train.model import (
    FORMAT_ALIASES,
    FORMATS,
    SAVE_FORMATS,
    CheckpointError,
    Use,
    build_sam_hq,
    hq_state_dict,
    inspect,
    load_checkpoint,
    load_checkpoint_with_provenance,
    save_checkpoint,
)
from samhq_train.model.formats import RECORDS, expected_state
from samhq_train.model.formats import lightning as lightning_format
from samhq_train.model.formats.safetensors_files import looks_like_safetensors

ALL = frozenset(Use)
NAMES = {
    "sam_hq": "w.pth",
    "transformers": "w_transformers",
    "safetensors": "w.safetensors",
    "hq_only": "w_hq.safetensors",
    "delta": "w_delta.safetensors",
}


def _training_checkpoint(path, model, *, loops=True, seed=3):
    ckpt = {
        lightning_format.STATE_KEY: {
            lightning_format.MODEL_PREFIX + k: v for k, v in hq_state_dict(model).items()
        },
        lightning_format.PROVENANCE_KEY: {"variant": "vit_demo", "seed": seed},
    }
    if loops:
        ckpt[lightning_format.LOOP_STATE_KEY] = {"fit_loop": {}}
    torch.save(ckpt, path)
    return path


def test_the_table_of_records():
    assert FORMATS == (
        "sam",
        "sam_hq",
        "transformers",
        "safetensors",
        "hq_only",
        "delta",
        "hq_decoder",
        "lightning",
        "lightning_full",
    )
    assert SAVE_FORMATS == ("sam_hq", "transformers", "safetensors", "hq_only", "delta")
    assert FORMAT_ALIASES == {"hf": "transformers"}
    for record in RECORDS.values():
        # a use the format is not for always says why and what to give instead
        assert set(record.refusals) == set(ALL - record.uses), record.name
    assert {n for n, r in RECORDS.items() if r.needs_base} == {
        "hq_only", "delta", "hq_decoder", "lightning"
    }
    assert [n for n, r in RECORDS.items() if Use.START in r.uses] == [
        "sam",
        "sam_hq",
        "transformers",
        "safetensors",
    ]
    assert [n for n, r in RECORDS.items() if Use.RESUME in r.uses] == [
        "lightning", "lightning_full"
    ]


@pytest.mark.parametrize("format", SAVE_FORMATS)
def test_inspect_each_written_format(tmp_path, tiny_model, format):
    path = save_checkpoint(tiny_model, tmp_path / NAMES[format], format, policy="hq")
    info = inspect(path)
    assert (info.format, info.family, info.variant) == (format, "sam1", "vit_demo")
    assert info.needs_base == (format in ("hq_only", "delta"))
    assert info.uses == RECORDS[format].uses
    assert info.provenance.policy == "hq"
    # what the file holds is what the record expects of the model (export's read-back rule)
    state = info.read().state
    expected = expected_state(tiny_model, format, "hq")
    assert set(state) == set(expected)
    assert all(torch.equal(state[k], v) for k, v in expected.items())


def test_inspect_official_sam_and_training_checkpoints(tmp_path, tiny_model):
    sam = {k: v for k, v in tiny_model.state_dict().items() if k not in hq_state_dict(tiny_model)}
    torch.save(sam, tmp_path / "sam_vit_demo.pth")
    info = inspect(tmp_path / "sam_vit_demo.pth")
    assert (info.format, info.variant, info.needs_base) == ("sam", "vit_demo", False)
    ckpt = inspect(_training_checkpoint(tmp_path / "last.ckpt", tiny_model))
    assert (ckpt.format, ckpt.family, ckpt.variant) == ("lightning", "sam1", "vit_demo")
    assert ckpt.provenance.seed == 3 and not ckpt.needs_base  # it records its random base
    assert ckpt.uses == {Use.RESUME, Use.EVALUATE, Use.EXPORT}
    bare = inspect(_training_checkpoint(tmp_path / "weights.ckpt", tiny_model, loops=False))
    assert Use.RESUME not in bare.uses
    with pytest.raises(CheckpointError, match="without the training state"):
        bare.require(Use.RESUME)
    assert inspect(tmp_path / "last.ckpt", "lightning").format == "lightning"


@pytest.mark.parametrize(
    ("name", "use", "setting", "message"),
    [
        (
            "last.ckpt",
            Use.START,
            "model.checkpoint",
            r"^model\.checkpoint=.*last\.ckpt is a training checkpoint: to continue that run pass "
            r"ckpt_path=.*last\.ckpt; model\.checkpoint takes the official SAM",
        ),
        (
            "w_hq.safetensors",
            Use.START,
            "model.checkpoint",
            r"^model\.checkpoint=.*w_hq\.safetensors holds only the HQ parameters: it only makes a "
            r"model together with the base",
        ),
        (
            "w_delta.safetensors",
            Use.START,
            "model.checkpoint",
            r"holds only the parameters a run trained \(a delta export\)",
        ),
        (
            "w.pth",
            Use.RESUME,
            "ckpt_path",
            r"^ckpt_path=.*w\.pth is plain model weights .*pass model\.checkpoint=.*w\.pth; "
            r"ckpt_path resumes a run",
        ),
        ("w_transformers", Use.RESUME, "ckpt_path", r"^ckpt_path=.*w_transformers is plain model"),
        (
            "gone.pth",
            Use.START,
            "model.checkpoint",
            r"^model\.checkpoint=.*gone\.pth not found: model\.checkpoint takes",
        ),
        (
            "gone.ckpt",
            Use.RESUME,
            "ckpt_path",
            r"^ckpt_path=.*gone\.ckpt not found: ckpt_path resumes",
        ),
    ],
)
def test_a_file_not_for_the_use_is_one_line_naming_the_setting(
    tmp_path, tiny_model, name, use, setting, message
):
    for format in ("sam_hq", "transformers", "hq_only", "delta"):
        save_checkpoint(tiny_model, tmp_path / NAMES[format], format)
    _training_checkpoint(tmp_path / "last.ckpt", tiny_model)
    with pytest.raises(CheckpointError, match=message) as info:
        inspect(tmp_path / name, use=use, setting=setting)
    assert "\n" not in str(info.value)


def test_damaged_files_name_the_setting(tmp_path, tiny_model):
    good = _training_checkpoint(tmp_path / "last.ckpt", tiny_model).read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(good[: len(good) // 2])
    with pytest.raises(
        CheckpointError,
        match=r"^ckpt_path=.*cut\.ckpt cannot be read as a training checkpoint: the file is trunc",
    ):
        inspect(tmp_path / "cut.ckpt", use=Use.RESUME, setting="ckpt_path")
    with pytest.raises(
        CheckpointError, match=r"could not read .*cut\.ckpt as a training checkpoint"
    ):
        inspect(tmp_path / "cut.ckpt")


def test_errors_are_user_errors_of_their_old_kind():
    from samhq_train.cache.store import CacheError
    from samhq_train.inference.export import OutputError

    assert issubclass(CheckpointError, UserError) and issubclass(CheckpointError, ValueError)
    assert issubclass(OutputError, UserError) and issubclass(OutputError, ValueError)
    assert issubclass(CacheError, UserError) and issubclass(CacheError, RuntimeError)


def test_a_training_checkpoint_is_read_once(tmp_path, tiny_model, monkeypatch):
    """Inspecting, loading and taking the record of a .ckpt read it once (it is big)."""
    path = _training_checkpoint(tmp_path / "last.ckpt", build_sam_hq("vit_demo", seed=3))
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **k: reads.append(f) or real_load(f, *a, **k))
    loaded = load_checkpoint_with_provenance(path)
    assert reads == [path] and loaded.format == "lightning" and loaded.provenance.seed == 3


def test_the_export_command_reads_a_training_checkpoint_once(tmp_path, monkeypatch):
    from pathlib import Path

    from samhq_train.cli import export as export_command

    path = _training_checkpoint(tmp_path / "last.ckpt", build_sam_hq("vit_demo", seed=3))
    reads = []
    real_load = torch.load
    monkeypatch.setattr(
        torch, "load", lambda f, *a, **k: reads.append(Path(f)) or real_load(f, *a, **k)
    )
    (tmp_path / "out").mkdir()
    export_command.main(
        ["--checkpoint", str(path), "--to", "safetensors", "--out", str(tmp_path / "out")]
    )
    assert reads.count(path) == 1


def test_delta_of_a_lora_run_round_trips_and_full_formats_are_merged(tmp_path):
    policy = {"name": "hq+lora", "lora": {"rank": 2, "alpha": 4.0}}
    base = build_sam_hq("vit_demo", seed=1)
    save_checkpoint(base, tmp_path / "sam_hq_vit_demo.pth", "sam_hq")
    model = build_sam_hq(
        "vit_demo", checkpoint=str(tmp_path / "sam_hq_vit_demo.pth"), policy=policy
    )
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.add_(0.01)
    delta = save_checkpoint(model, tmp_path / "d.safetensors", "delta", policy=policy)
    assert inspect(delta).provenance.policy == "hq+lora"
    again = load_checkpoint(delta, base_checkpoint=tmp_path / "sam_hq_vit_demo.pth")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.state_dict().items())
    full = inspect(save_checkpoint(model, tmp_path / "f.safetensors", "safetensors")).read().state
    assert not any("lora" in k for k in full)


def test_a_safetensors_file_without_extension_whose_header_starts_like_a_pickle(
    tmp_path, tiny_model
):
    """The torch sniff is loose (a pickle starts with 0x80): a safetensors header length whose
    first byte is 0x80 is still safetensors."""
    from safetensors.torch import save_file

    state = hq_state_dict(tiny_model)
    for pad in range(256):
        save_file(state, str(tmp_path / "w"), metadata={"pad": "x" * pad})
        if (tmp_path / "w").read_bytes()[:1] == b"\x80":
            break
    assert (tmp_path / "w").read_bytes()[:1] == b"\x80"
    info = inspect(tmp_path / "w")
    assert info.format == "hq_only"
    assert set(info.read().state) == set(state)


def test_safetensors_sniffing_checks_the_header_fits_the_file(tmp_path):
    body = b'{"__metadata__":{}}'

    def write(name, length, data=body):
        path = tmp_path / name
        path.write_bytes(length.to_bytes(8, "little") + data)
        return path

    assert looks_like_safetensors(write("ok", len(body)))
    assert not looks_like_safetensors(write("long", len(body) + 1))  # more than the file holds
    assert not looks_like_safetensors(write("zero", 0))
    assert not looks_like_safetensors(write("not_json", len(body), b"[" + body[1:]))
    (tmp_path / "short").write_bytes(b"\x05\x00")
    assert not looks_like_safetensors(tmp_path / "short")


def test_safetensors_files_of_other_tools_are_told_apart_by_their_keys(tmp_path, tiny_model):
    """Without our metadata: hq_only only when every key is HQ; a variant the registry does not
    know is no variant; a delta that records no policy was trained with policy hq."""
    state = {k: v.contiguous() for k, v in tiny_model.state_dict().items()}
    hq = hq_state_dict(tiny_model)
    save_file(state, str(tmp_path / "full.safetensors"))
    save_file(hq, str(tmp_path / "hq.safetensors"))
    save_file(state, str(tmp_path / "named.safetensors"), metadata={"variant": "vit_unknown"})
    metadata = {"contents": "delta", "variant": "vit_demo"}
    save_file(hq, str(tmp_path / "delta.safetensors"), metadata=metadata)
    assert inspect(tmp_path / "full.safetensors").format == "safetensors"
    assert inspect(tmp_path / "hq.safetensors").format == "hq_only"
    named = inspect(tmp_path / "named.safetensors")
    assert (named.format, named.variant) == ("safetensors", None)
    delta = inspect(tmp_path / "delta.safetensors")
    assert (delta.format, delta.variant, delta.provenance.policy) == ("delta", "vit_demo", "hq")
    assert delta.provenance.policy_settings is None
