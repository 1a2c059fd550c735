"""Mutation audit 22: the log line of written demo data counts the train and the val images each
in its place (the tests before wrote as many of each)."""

import logging

from samhq_train.data.demo import ensure_demo_data


def test_the_train_and_val_counts_are_in_their_places(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="samhq_train.data.demo"):
        ensure_demo_data(tmp_path / "demo", num_train=2, num_val=1, height=32, width=32)
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("wrote the synthetic demo data (2 train + 1 val images) to ")
