"""samhq-predict run in-process (exit status, stdout, stderr) on small written images."""

from pathlib import Path

import cv2
import numpy as np

from samhq_train.cli import predict as predict_command


def write_image(path: Path, shape=(60, 80), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return path


def three_images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i, name in enumerate("abc"):
        write_image(folder / f"{name}.png", seed=i)
    return folder


def run(argv, capsys, *, device: str | None = "cpu") -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of samhq-predict on `device` (None: as argv says)."""
    capsys.readouterr()
    try:
        predict_command.main([*map(str, argv), *(["--device", device] if device else [])])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]
