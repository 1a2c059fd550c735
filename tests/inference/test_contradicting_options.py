"""Options that contradict each other are one usage line, exit 2, before anything is read:
--hq-token-only (the HQ mask alone) with --no-hq (no HQ token) had gone through, giving plain
SAM's mask."""

import pytest

from samhq_train.cli import predict as predict_command
from samhq_train.inference import amg_command

ARGV = {
    "samhq-predict": (predict_command, ["a.png", "--checkpoint", "m.pth", "--box", "1", "1", "9",
                                        "9"]),
    "samhq-amg": (amg_command, ["--image", "a.png", "--checkpoint", "m.pth"]),
}


@pytest.mark.parametrize("command", sorted(ARGV))
def test_hq_token_only_with_no_hq_is_refused(command, capsys):
    module, argv = ARGV[command]
    with pytest.raises(SystemExit) as info:
        module.parse_args([*argv, "--no-hq", "--hq-token-only"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "error: --hq-token-only (the HQ mask alone) and --no-hq (no HQ token) contradict each "
        "other: give one of them"
    )
    assert module.parse_args([*argv, "--hq", "--hq-token-only"]).hq_token_only
