"""The check of `group=option` overrides (cli/hydra_command.py, audit 16) lets through what is
no option choice: a group dropped with ~, a plain key (model.variant=vit_b: no group of that
name), a list of a group's options (logger=[csv,tensorboard])."""

from samhq_train.cli.hydra_command import check_command_line


def test_deletions_plain_keys_and_option_lists_pass_the_group_check():
    argv = ["~debug", "trainer.max_epochs=2", "model.variant=vit_b", "logger=[csv,tensorboard]",
            "model=vit_b"]
    assert check_command_line("train", argv, ()) == []
