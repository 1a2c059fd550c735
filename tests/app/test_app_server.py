"""The app's json API without a browser: masks equal SamHQPredictor's (HQ on) and the model's
decode with HQ off for the same click sequence, errors are one line, saving stays in --out."""

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from samhq_train.app import engine, server
from samhq_train.app.command import load_segmenter, parse_args
from samhq_train.app.command import main as app_main
from samhq_train.app.engine import Options
from samhq_train.inference.prompt_file import read_prompt_file
from samhq_train.model import build_sam_hq, save_checkpoint
from tests.reference import randomize_

from .conftest import demo_image, reference_masks

STEPS = [
    {"point": [150.0, 120.0, 1]},
    {"point": [40.5, 30.25, 0]},
    {"box": [60.0, 40.0, 250.0, 220.0]},
    {"point": [200.0, 150.0, 1]},
]


def call(url, body=None, headers=None, raw=False):
    """(status, json) of a GET (body None) or POST."""
    data = body if raw or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        assert "Traceback" not in text
        return err.code, json.loads(text)


def png_mask(url: str) -> np.ndarray:
    data = base64.b64decode(url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) > 127


@pytest.mark.parametrize("refine", [True, False])
def test_masks_match_the_predictor_for_each_click(app_server, tiny_checkpoint, refine):
    base, _ = app_server
    status, image = call(f"{base}/api/demo?index=0")
    assert status == 200 and (image["width"], image["height"]) == (320, 256)
    expected = reference_masks(tiny_checkpoint, demo_image(0), STEPS, refine=refine)
    differ = 0
    for n in range(1, len(STEPS) + 1):
        body = {"image_id": image["image_id"], "steps": STEPS[:n], "refine": refine}
        status, answer = call(f"{base}/api/segment", body)
        assert status == 200, answer
        hq, sam = png_mask(answer["hq"]["mask"]), png_mask(answer["sam"]["mask"])
        np.testing.assert_array_equal(hq, expected[n - 1][0])
        np.testing.assert_array_equal(sam, expected[n - 1][1])
        assert 0 < hq.sum() < hq.size  # a mask with both sides: the comparison can fail
        assert answer["hq"]["area"] == hq.sum()
        differ += int((hq != sam).any())
        assert answer["multimask"] == (n == 1)
    assert differ  # HQ on and off give different masks on these random weights
    assert answer["prompt_file"] == {
        "box": STEPS[2]["box"],
        "points": [s["point"] for s in STEPS if "point" in s],
    }


def test_undo_is_answered_from_the_kept_steps(app_server):
    base, _ = app_server
    _, image = call(f"{base}/api/demo?index=1")
    body = {"image_id": image["image_id"], "steps": STEPS[:3]}
    _, three = call(f"{base}/api/segment", body)
    _, two = call(f"{base}/api/segment", {**body, "steps": STEPS[:2]})
    assert two["decode_ms"] == 0  # kept from the first request
    _, three_again = call(f"{base}/api/segment", body)
    assert three_again["decode_ms"] == 0 and three_again["hq"]["mask"] == three["hq"]["mask"]
    _, again = call(f"{base}/api/demo?index=1")
    assert again["cached"] and again["image_id"] == image["image_id"]


def test_errors_are_one_line_in_json_and_on_the_console(app_server, capsys):
    base, _ = app_server
    _, image = call(f"{base}/api/demo?index=0")
    cases = [
        (
            f"{base}/api/image",
            b"not an image",
            {"X-Filename": "bad.jpg"},
            "bad.jpg is not a readable image",
        ),
        (f"{base}/api/image", b"", {"X-Filename": "empty.png"}, "empty.png is empty"),
        (f"{base}/api/segment", b"{", {}, "not json"),
        (
            f"{base}/api/segment",
            json.dumps(
                {"image_id": image["image_id"], "steps": [{"point": [500, 10, 1]}]}
            ).encode(),
            {},
            "outside the 320 x 256 image",
        ),
        (
            f"{base}/api/segment",
            json.dumps({"image_id": image["image_id"], "steps": [{"point": [5, 10, 2]}]}).encode(),
            {},
            "label must be 1",
        ),
        (
            f"{base}/api/segment",
            json.dumps(
                {"image_id": image["image_id"], "steps": [{"box": [50, 10, 5, 20]}]}
            ).encode(),
            {},
            "x0 < x1",
        ),
        (
            f"{base}/api/segment",
            json.dumps(
                {"image_id": image["image_id"], "steps": [{"box": [float("nan"), 10, 5, 20]}]}
            ).encode(),
            {},
            "box 0 [nan, 10, 5, 20] is not finite (NaN or inf)",
        ),
        (
            f"{base}/api/segment",
            json.dumps({"image_id": image["image_id"], "steps": []}).encode(),
            {},
            "no prompt",
        ),
        (f"{base}/api/demo?index=99", None, {}, "demo index must be"),
    ]
    for url, body, headers, expected in cases:
        status, answer = call(url, body, headers, raw=True)
        assert status == 400 and expected in answer["error"] and "\n" not in answer["error"], answer
    console = capsys.readouterr().out
    assert console.count("error: ") == len(cases)


def test_an_image_let_go_is_a_410_and_sending_it_again_gives_the_same_masks(app_server):
    """Another tab opening KEPT_IMAGES images lets this tab's image go: a 410 (the page's cue to
    send its image again, page.html's withImage), then the same id and masks as before."""
    base, _ = app_server
    _, image = call(f"{base}/api/demo?index=0")
    body = {"image_id": image["image_id"], "steps": STEPS}
    status, before = call(f"{base}/api/segment", body)
    assert status == 200
    for index in range(1, engine.KEPT_IMAGES + 1):
        call(f"{base}/api/demo?index={index}")
    for path in ("segment", "save"):
        status, answer = call(f"{base}/api/{path}", body)
        assert status == 410 and "no longer loaded" in answer["error"], answer
        assert "\n" not in answer["error"]
    _, again = call(f"{base}/api/demo?index=0")
    assert again["image_id"] == image["image_id"] and not again["cached"]
    status, after = call(f"{base}/api/segment", body)
    assert status == 200 and after["hq"]["mask"] == before["hq"]["mask"]
    assert after["sam"]["mask"] == before["sam"]["mask"]


def test_a_bug_is_a_pointer_to_the_console_not_a_traceback(app_server, monkeypatch, capsys):
    base, _ = app_server
    _, image = call(f"{base}/api/demo?index=0")

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(engine.Segmenter, "segment", broken)
    status, answer = call(f"{base}/api/segment", {"image_id": image["image_id"], "steps": STEPS})
    assert status == 500 and "secret" not in answer["error"] and "console" in answer["error"]
    assert "RuntimeError: secret internals" in capsys.readouterr().err


def test_save_writes_only_into_the_output_folder(app_server, tiny_checkpoint, tmp_path):
    base, out = app_server
    ok, data = cv2.imencode(".png", cv2.cvtColor(demo_image(2), cv2.COLOR_RGB2BGR))
    name = "..%2F..%2Fescape me.png"  # the page sends encodeURIComponent(file name)
    status, image = call(f"{base}/api/image", data.tobytes(), {"X-Filename": name}, raw=True)
    assert status == 200 and image["name"] == "escape me.png"
    status, saved = call(f"{base}/api/save", {"image_id": image["image_id"], "steps": STEPS[:2]})
    assert status == 200
    files = sorted(p.name for p in out.iterdir())
    assert files == ["escape_me.json", "escape_me_mask.png", "escape_me_sam_mask.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app_out"]
    prompts = read_prompt_file(out / "escape_me.json")
    np.testing.assert_array_equal(prompts.points, [s["point"] for s in STEPS[:2]])
    expected = reference_masks(tiny_checkpoint, demo_image(2), STEPS[:2])[-1]
    np.testing.assert_array_equal(cv2.imread(str(out / "escape_me_mask.png"), 0) > 127, expected[0])
    sam = cv2.imread(str(out / "escape_me_sam_mask.png"), 0) > 127
    np.testing.assert_array_equal(sam, expected[1])
    assert (expected[0] != expected[1]).any()  # the two files can be told apart
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    status, again = call(f"{base}/api/save", {"image_id": image["image_id"], "steps": STEPS[:1]})
    assert status == 200  # a second save of the image goes beside the first, replacing nothing
    assert [Path(f).name for f in again["saved"]] == [
        "escape_me_2_mask.png", "escape_me_2_sam_mask.png", "escape_me_2.json"]
    assert all((out / name).read_bytes() == data for name, data in first.items())


def test_an_upload_over_the_limit_is_refused_before_it_is_read(app_server, monkeypatch):
    base, _ = app_server
    monkeypatch.setattr(server, "MAX_UPLOAD", 1000)
    status, answer = call(f"{base}/api/image", b"x" * 1001, {"X-Filename": "a.png"}, raw=True)
    assert status == 400 and answer["error"] == (
        "the upload has 1,001 bytes; at most 1,000 are taken"
    )


def test_a_checkpoint_that_does_not_load_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not weights")
    for argv in ([str(tmp_path / "missing.pth")], [str(bad)]):
        with pytest.raises(SystemExit) as exit_info:
            app_main([*argv, "--port", "0"], serve=False)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        assert err.count(argv[0]) == 1, err


def test_a_taken_port_is_one_line_before_the_model_is_read(monkeypatch, capsys):
    import socket

    def no_model(*args, **kwargs):
        raise AssertionError("the model was read before the port was tried")

    monkeypatch.setattr("samhq_train.app.command.load_checkpoint", no_model)
    with socket.socket() as taken:  # another app (or anything) already serving there
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            app_main(["--port", str(port)], serve=False)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: cannot serve on 127.0.0.1:{port}: Address already in use; pass another --port "
        "(0: any free one)\n"
    )


@pytest.mark.parametrize("variant", ["vit_demo", "sam2.1_hq_hiera_demo"])
def test_every_family_loads_and_matches_the_predictor(variant, tmp_path):
    path = save_checkpoint(
        randomize_(build_sam_hq(variant, seed=1), seed=1),
        tmp_path / f"{variant}.safetensors",
        "safetensors",
        variant=variant,
    )
    segmenter = load_segmenter(parse_args([str(path), "--device", "cpu"]))
    image = demo_image(3)
    image_id = segmenter.set_image(image, "demo-3")["image_id"]
    expected = reference_masks(path, image, STEPS)
    both_sides = 0
    for n in range(1, len(STEPS) + 1):
        result, _ = segmenter.segment(image_id, STEPS[:n], Options())
        np.testing.assert_array_equal(result.hq.mask, expected[n - 1][0])
        np.testing.assert_array_equal(result.sam.mask, expected[n - 1][1])
        both_sides += int(0 < result.hq.mask.sum() < result.hq.mask.size)
    assert both_sides  # some mask has object and background: the comparison can fail


def test_the_script_serves_the_page_on_localhost(tiny_checkpoint, tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [
        sys.executable,
        str(root / "scripts" / "app.py"),
        str(tiny_checkpoint),
        "--port",
        "0",
        "--out",
        str(tmp_path / "out"),
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path
    )
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[1].split()[2]
        assert url.startswith("http://127.0.0.1:"), lines
        with urllib.request.urlopen(url, timeout=30) as page:
            assert b"SAM-HQ" in page.read()
        assert call(url + "api/info")[1]["model"].startswith("tiny.safetensors (sam1")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert list(tmp_path.iterdir()) == []  # nothing saved, nothing written
    # SIGTERM stops it as Ctrl-C does: the note line, the shell's status for the signal
    assert process.returncode == 143
    assert process.stdout.read().strip().splitlines()[-1].startswith(
        "interrupted (SIGTERM): stopped the app server on 127.0.0.1:")


def test_ctrl_c_names_what_it_stopped_and_what_was_saved(tmp_path):
    from types import SimpleNamespace

    from samhq_train.app.command import stop_note

    app = SimpleNamespace(saves=2, out_dir=tmp_path)
    assert stop_note(app, "127.0.0.1", 8000) == (
        "interrupted (SIGINT): stopped the app server on 127.0.0.1:8000; 2 mask(s) saved in this "
        f"session, in {tmp_path} (a save is written whole or not at all)"
    )
