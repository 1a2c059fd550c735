"""check_hq_options refuses --hq-token-only with --no-hq only: with the default (--hq decided
from the loaded file) it stays a valid choice. Mutation audit 17."""

import pytest

from samhq_train.cli import predict as predict_command
from samhq_train.inference import amg_command

ARGV = {
    "samhq-predict": (predict_command, ["a.png", "--checkpoint", "m.pth", "--box", "1", "1", "9",
                                        "9"]),
    "samhq-amg": (amg_command, ["--image", "a.png", "--checkpoint", "m.pth"]),
}


@pytest.mark.parametrize("command", sorted(ARGV))
def test_hq_token_only_with_the_default_hq_choice_is_accepted(command):
    """Mutant: `not args.hq` (the default None refused like --no-hq)."""
    module, argv = ARGV[command]
    args = module.parse_args([*argv, "--hq-token-only"])
    assert args.hq is None and args.hq_token_only
