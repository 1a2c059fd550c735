"""A save of the image page on a disk that fills up midway: one line in the page (a 400, not the
500 of a bug) and none of the save's files left, not a mask without its prompts."""

import errno

import cv2

from samhq_train.app import api
from samhq_train.files import atomic_write
from tests.app import test_app_server as server_tests
from tests.app.conftest import demo_image


def test_a_save_that_fills_the_disk_leaves_none_of_its_files(app_server, monkeypatch):
    base, out = app_server

    def disk_full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(api, "atomic_write_text", lambda path, text: atomic_write(path, disk_full))
    ok, data = cv2.imencode(".png", cv2.cvtColor(demo_image(2), cv2.COLOR_RGB2BGR))
    status, image = server_tests.call(f"{base}/api/image", data.tobytes(),
                                      {"X-Filename": "cat.png"}, raw=True)
    assert status == 200
    status, answer = server_tests.call(f"{base}/api/save", {"image_id": image["image_id"],
                                                             "steps": server_tests.STEPS[:1]})
    assert status == 400 and "cat.json" in answer["error"]
    assert "full disk" in answer["error"] or "no space" in answer["error"].lower()
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []
