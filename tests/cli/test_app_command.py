"""samhq-app: a port number out of range is one line before the model is read (bind raised
OverflowError with a traceback); so are a host that is no address and a malformed pixel limit."""

import pytest

from samhq_train.app import command


def not_reached(*args, **kwargs):
    raise AssertionError("the model was read before the check")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_one_line(tmp_path, monkeypatch, capsys, port):
    monkeypatch.setattr(command, "load_segmenter", not_reached)
    with pytest.raises(SystemExit) as info:
        command.main(["--port", port, "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --port {port}: expected a port number 0-65535 (0: any free one)"
    ]


@pytest.mark.parametrize("host", ["999.1.1.1", "no such host.invalid"])
def test_a_host_that_is_no_address_is_one_line_before_the_model(tmp_path, monkeypatch, capsys,
                                                                 host):
    monkeypatch.setattr(command, "load_segmenter", not_reached)
    with pytest.raises(SystemExit) as info:
        command.main(["--host", host, "--port", "0", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --host {host}: not an address (") and line.endswith(
        "give an address of this machine (default 127.0.0.1)"
    ), line


def test_a_malformed_pixel_limit_is_one_line_before_the_model(tmp_path, monkeypatch, capsys):
    """SAMHQ_MAX_IMAGE_PIXELS is read at the start (it was a 400 answer to every upload)."""
    monkeypatch.setattr(command, "load_segmenter", not_reached)
    monkeypatch.setenv("SAMHQ_MAX_IMAGE_PIXELS", "50MP")
    with pytest.raises(SystemExit) as info:
        command.main(["--port", "0", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: SAMHQ_MAX_IMAGE_PIXELS=50MP: expected a whole number of pixels (0: no limit)"
    ]


def test_an_empty_checkpoint_is_named_once(tmp_path, capsys):
    empty = tmp_path / "epoch_3.pth"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        command.main([str(empty), "--port", "0", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.count(str(empty)) == 1 and "empty" in line, line
