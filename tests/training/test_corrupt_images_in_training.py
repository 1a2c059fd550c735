"""A validation image cut short (its header fine) in a training run: by default found when a
validation reads it (here: after the epoch trained), one line naming the file and the keys that
skip it or find it up front; with data.check_images=full, the same file refused before the model
is built. Exit 2."""

import pytest

from samhq_train.data.demo import ensure_demo_data
from samhq_train.errors import exit_on_user_error
from samhq_train.train import train
from tests.training.helpers import compose_cfg

QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "validate_before_training=false",
    "export=false",
]


@pytest.fixture(scope="module")
def cut_root(tmp_path_factory):
    """The tests' small demo set (helpers.SMALL), its second validation image cut in half."""
    root = ensure_demo_data(
        tmp_path_factory.mktemp("cut_data"), num_train=8, num_val=2, height=96, width=128
    )
    image = root / "val" / "images" / "0001.jpg"
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    return root


def run_lines(cfg, capsys) -> list[str]:
    with pytest.raises(SystemExit) as info:
        exit_on_user_error(train)(cfg)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [ln for ln in err.splitlines() if ln.startswith(("error:", "config error:"))]


def test_a_cut_validation_image_stops_the_first_validation_in_one_line(
    tmp_path, cut_root, capsys
):
    lines = run_lines(compose_cfg(tmp_path, cut_root, *QUICK), capsys)
    image = cut_root / "val" / "images" / "0001.jpg"
    assert lines == [
        f"error: cannot read image file {image}: 0001.jpg is truncated (JPEG end marker "
        "missing); re-download or remove it; or set data.strict_eval=false to skip bad files "
        "(data.check_images=full checks every image before the run starts)"
    ]
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()  # found after training


def test_check_images_full_refuses_it_before_the_model_is_built(
    tmp_path, cut_root, capsys, monkeypatch
):
    import samhq_train.train as train_module

    def no_model(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(train_module, "build_model_from_config", no_model)
    lines = run_lines(compose_cfg(tmp_path, cut_root, *QUICK, "data.check_images=full"), capsys)
    image = cut_root / "val" / "images" / "0001.jpg"
    assert lines == [
        f"error: cannot read image file {image}: 0001.jpg is truncated (JPEG end marker "
        "missing); re-download or remove it; or set data.strict_eval=false to skip bad files"
    ]


def test_check_images_accepts_header_or_full(tmp_path, cut_root, capsys):
    lines = run_lines(compose_cfg(tmp_path, cut_root, "data.check_images=bodies"), capsys)
    assert len(lines) == 1 and lines[0].startswith("config error: data.check_images=bodies")
    assert "header" in lines[0] and "full" in lines[0]
