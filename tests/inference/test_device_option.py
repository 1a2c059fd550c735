"""--device of samhq-predict, samhq-amg and samhq-app: a name torch does not know, a device type
the commands do not run on, CUDA where there is none and a GPU index past the machine's count are
one usage line (exit 2) at argument parsing, before any checkpoint is read."""

import pytest
import torch

from samhq_train.app import command as app_command
from samhq_train.cli import predict as predict_command
from samhq_train.inference import amg_command

MISSING = "/nonexistent/never_read.pth"  # parsing must stop before the checkpoint is looked at
COMMANDS = {
    "samhq-predict": lambda device: predict_command.parse_args(
        ["photo.jpg", "--checkpoint", MISSING, "--box", "0", "0", "5", "5", "--device", device]
    ),
    "samhq-amg": lambda device: amg_command.parse_args(
        ["--image", "photo.jpg", "--checkpoint", MISSING, "--device", device]
    ),
    "samhq-app": lambda device: app_command.parse_args([MISSING, "--device", device]),
}


def usage_error(parse, device, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        parse(device)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    "device, words",
    [("tpu", "not a device name"), ("cuda:x", "not a device name"), ("meta", "cpu or cuda only")],
)
def test_unknown_or_unsupported_device_is_one_line(command, device, words, capsys):
    line = usage_error(COMMANDS[command], device, capsys)
    assert f"--device {device}" in line and words in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cuda_without_a_gpu_is_one_line(command, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = usage_error(COMMANDS[command], "cuda", capsys)
    assert "CUDA is not available here; use --device cpu" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_gpu_index_past_the_count_is_one_line(command, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert COMMANDS[command]("cuda:1").device == "cuda:1"
    line = usage_error(COMMANDS[command], "cuda:2", capsys)
    assert "--device cuda:2: this machine has 2 GPU(s)" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cpu_passes(command):
    assert COMMANDS[command]("cpu").device == "cpu"
