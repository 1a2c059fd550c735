import pytest

from samhq_train.training.video import run as video_run


@pytest.fixture
def no_model(monkeypatch):
    """A refusal comes before the model is built."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(video_run, "build_model_from_config", refuse)
