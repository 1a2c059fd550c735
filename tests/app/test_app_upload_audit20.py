"""Mutation audit 20: an upload that runs the memory out while it is decoded is one AppError line
naming it (imaging's ImageMemoryError, not a traceback from the request handler)."""

import io

import numpy as np
import pytest
from PIL import Image

from samhq_train import imaging
from samhq_train.app import server
from samhq_train.app.engine import AppError


def test_an_upload_that_runs_the_memory_out_is_one_line_naming_it(monkeypatch):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(buffer, "PNG")

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(imaging.cv2, "imdecode", no_memory)
    with pytest.raises(AppError, match=r"^out of memory on big.png \(16 x 12 pixels\); "):
        server.decode_upload(buffer.getvalue(), "big.png")
