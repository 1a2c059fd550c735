"""Mutation audit 19: samhq_train sets NO_ALBUMENTATIONS_UPDATE (albumentations' version check
asks pypi.org on import) unless the user set it: a value the user set is kept."""

import importlib
import os

import samhq_train


def test_the_users_value_is_kept_and_unset_it_is_1(monkeypatch):
    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "0")
    importlib.reload(samhq_train)
    assert os.environ["NO_ALBUMENTATIONS_UPDATE"] == "0"
    monkeypatch.delenv("NO_ALBUMENTATIONS_UPDATE")
    importlib.reload(samhq_train)
    assert os.environ["NO_ALBUMENTATIONS_UPDATE"] == "1"
