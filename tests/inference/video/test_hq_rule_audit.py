"""The untrained-HQ rule on paths that name a shipped demo base other ways (mutation audit
round 5): relative to the working folder and through a symbolic link, it is still the shipped
file; and samhq-video's --hq / --no-hq decide over the rule."""

import json

import torch

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.inference.video import command as video_command
from samhq_train.model import load_checkpoint, without_hq

from .conftest import write_video

DEMO_VIT = DEMO_BASE_DIR / "vit_demo_base.safetensors"


def test_a_demo_base_named_relatively_or_through_a_link_is_the_shipped_one(tmp_path,
                                                                          monkeypatch):
    link = tmp_path / "linked.safetensors"
    link.symlink_to(DEMO_VIT)
    monkeypatch.chdir(DEMO_BASE_DIR)
    for path in (DEMO_VIT.name, link):
        why = load_checkpoint(path).untrained_hq
        assert why is not None and why.reason.startswith("is a shipped demo base"), path
        assert str(why).startswith(str(path))


def test_video_hq_flags_decide_over_the_rule(official_model, tmp_path, capsys):
    """A plain SAM 2.1 file decodes without the HQ token by default and with --no-hq (the same
    PNGs), with its untrained HQ token under --hq (other PNGs, no note)."""
    frames = write_video(tmp_path / "frames", num_frames=2)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "box": [10, 20, 90, 70]}]))
    plain = tmp_path / "sam2.1_hiera_tiny_plain.pt"  # Meta's layout: no HQ keys
    torch.save({"model": without_hq(official_model.state_dict())}, plain)

    def run(out, *extra):
        capsys.readouterr()
        argv = ["--frames", str(frames), "--prompts", str(prompts), "--out", str(tmp_path / out),
                "--checkpoint", str(plain), "--device", "cpu", *extra]
        assert video_command.main(argv) == 0
        return [p.read_bytes() for p in sorted((tmp_path / out).glob("*.png"))], \
            capsys.readouterr().err

    default, err = run("default")
    assert "note:" in err and "decoding as plain SAM 2.1" in err
    no_hq, err = run("no_hq", "--no-hq")
    forced, forced_err = run("hq", "--hq")
    assert default == no_hq and "note:" not in err and "note:" not in forced_err
    assert forced != default
