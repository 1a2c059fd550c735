"""A user's text file saved as UTF-16 / UTF-32 (Windows Notepad's "Unicode", PowerShell's
redirection) or in another encoding is refused by user_files.read_text in words that say what it
is and to save it as UTF-8, not as the codec's "can't decode byte 0xff"; every reader that catches
a decoding error (UnicodeDecodeError, ValueError) still catches it."""

import json

import pytest

from samhq_train.inference.video.prompts import PromptsFileError, read_prompts
from samhq_train.user_files import read_text

PROMPTS = json.dumps([{"frame": 0, "object": 1, "points": [[3, 3]], "labels": [1]}])


@pytest.mark.parametrize(
    ("encoding", "says"),
    [
        ("utf-16", "UTF-16 text"),  # with its byte-order mark, as Python and Notepad write it
        ("utf-32", "UTF-32 text"),
        ("latin-1", "not UTF-8 text (byte 0xe9 at position 1)"),
    ],
)
def test_another_encoding_says_save_it_as_utf8(encoding, says, tmp_path):
    path = tmp_path / "prompts.json"
    path.write_bytes('"\u00e9t\u00e9"'.encode(encoding))
    with pytest.raises(UnicodeDecodeError) as err:
        read_text(path)
    assert says in str(err.value) and str(err.value).endswith("save it as UTF-8"), err.value
    assert "codec" not in str(err.value)


@pytest.mark.parametrize("mark", [b"\xfe\xff", b"\x00\x00\xfe\xff"])
def test_a_big_endian_mark_is_told_too(mark, tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(mark + b"\x00\x00\x00{")
    with pytest.raises(ValueError, match="save it as UTF-8"):
        read_text(path)


def test_the_position_is_the_files_past_a_read_chunk(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"a" * 100_000 + b"\xe9")
    with pytest.raises(ValueError, match="byte 0xe9 at position 100000"):
        read_text(path)


def test_utf8_with_or_without_its_mark_reads(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes("\ufeff\u00e9".encode())
    assert read_text(path) == "\u00e9"


def test_a_utf16_prompts_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text(PROMPTS, encoding="utf-16")
    with pytest.raises(PromptsFileError) as err:
        read_prompts(path, 2, (8, 8), "batched", "", sam3=None)
    assert str(err.value) == (f"{path}: not a readable JSON file (UTF-16 text (it starts with "
                              "UTF-16's byte-order mark): save it as UTF-8)")
