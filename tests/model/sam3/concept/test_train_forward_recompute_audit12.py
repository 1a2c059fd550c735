"""The concept detector's grad_checkpointing switch (audit 12): it reads on only while every part
that Meta's recipe checkpoints is switched on (one part on, or one off, is not the recipe's
setting), and setting it switches each of them."""

from .test_train_forward_dropout import detector
from .test_train_forward_recompute import PARTS


def test_the_switch_reads_on_only_when_every_part_is_on():
    model = detector(dropout=0.0)
    for part in PARTS:
        model.grad_checkpointing = False
        model.get_submodule(part).grad_checkpointing = True
        assert not model.grad_checkpointing, part
        model.grad_checkpointing = True
        assert all(model.get_submodule(p).grad_checkpointing for p in PARTS)
        model.get_submodule(part).grad_checkpointing = False
        assert not model.grad_checkpointing, part
