"""A user's files and folders: how one given as a file or folder is checked, said in words when
it is not one, and read.

read_text is how a user's text file (a json, a prompt file) is read: a path that is there but is
not a regular file (a folder, a pipe, a device) is an OSError saying so, before anything opens it
(opening a pipe waits for a writer forever). It reads UTF-8 and drops a byte-order mark at the
start (Windows tools and editors' "UTF-8 with BOM" write one), which json.loads would refuse; a
file in another encoding (UTF-16 from Notepad's "Unicode" or PowerShell's redirection) is
NotUtf8Error, saying to save it as UTF-8.

is_hidden tells the files a folder listing leaves out: a name starting with "." (macOS's
"._<name>" AppleDouble metadata beside each file copied to a non-Mac disk, .DS_Store, an editor's
or a copy's temporary file), as ls and shell globs leave them out.

frame_order is the order of a video's frame files (training's clips, samhq-video's frames
folders, samhq-video-eval's GT masks): by name, numerically where the name is a number.
"""

from __future__ import annotations

import os
from pathlib import Path

from samhq_train.files import interrupted_write_note


class NotAFileError(OSError):
    """A path given as a file that is a folder, a pipe or a device."""


def require_regular_file(path: str | os.PathLike) -> None:
    """NotAFileError when `path` is there but is not a regular file (a missing one is left to the
    reader's own FileNotFoundError)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise NotAFileError(
            "a folder, not a file" if path.is_dir() else "not a regular file (a pipe or a device)"
        )


def not_a_file(path: str | os.PathLike) -> str:
    """What an entry that is not a regular file is, in words: a folder, a pipe or device, a
    broken link (or gone)."""
    try:
        require_regular_file(path)
    except NotAFileError as err:
        return str(err)
    return "a broken link" if Path(path).is_symlink() else "gone"


def file_problem(path: str | os.PathLike) -> str:
    """Why `path`, given as a file and not one, cannot be read, in words."""
    return not_a_file(path) if os.path.lexists(path) else "no such file"


def not_a_folder(path: str | os.PathLike) -> str:
    """Why `path`, given as a folder and not one, cannot be read, in words."""
    if Path(path).exists():
        return "a file, not a folder"
    return "folder not found" + interrupted_write_note(path)


class NotUtf8Error(UnicodeDecodeError):
    """A user's text file that is not UTF-8 (UTF-16 / UTF-32 told by its byte-order mark, or
    bytes UTF-8 cannot decode): says what it is and to save it as UTF-8, where the codec's own
    words ("can't decode byte 0xff in position 0") tell a user neither. A UnicodeDecodeError, so
    each reader's handling of one catches it; the reader names the file."""

    def __init__(self, err: UnicodeDecodeError, what: str) -> None:
        super().__init__(err.encoding, err.object, err.start, err.end, err.reason)
        self.what = what

    def __str__(self) -> str:
        return f"{self.what}: save it as UTF-8"


# UTF-32's marks first: UTF-32 LE's starts with UTF-16 LE's
_OTHER_MARKS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def read_text(path: str | os.PathLike) -> str:
    """A text file's content (UTF-8, a leading byte-order mark dropped), after
    require_regular_file; NotUtf8Error for a file in another encoding."""
    require_regular_file(path)
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        data = Path(path).read_bytes()  # the error's own offsets are a read chunk's
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        for mark, encoding in _OTHER_MARKS:
            if data.startswith(mark):
                raise NotUtf8Error(
                    err, f"{encoding} text (it starts with {encoding}'s byte-order mark)"
                ) from None
        raise NotUtf8Error(
            err, f"not UTF-8 text (byte 0x{data[err.start]:02x} at position {err.start})"
        ) from None
    raise AssertionError("utf-8-sig refused what utf-8 decodes")  # not reached


def is_hidden(path: str | os.PathLike) -> bool:
    """Whether a folder listing leaves `path` out: its name starts with "." (see the module
    docstring); "._photo.jpg" is macOS metadata, not a JPEG."""
    return is_hidden_name(Path(path).name)


def is_hidden_name(name: str) -> bool:
    """is_hidden of a file name as a folder listing gives it (os.scandir's entry.name)."""
    return name.startswith(".")


def frame_order(path: Path) -> tuple[int, int, str]:
    """Sort key of a video's frame files: by name, numerically where the name is a number (0.jpg,
    1.jpg, ..., 10.jpg as an extractor or SAM 2's "<index>.jpg" writes them: 2 before 10;
    zero-padded DAVIS / SA-V names sort as by name), numbered frames first; one number written
    two ways (2, 002) by name."""
    return stem_order(path.stem)


def stem_order(stem: str) -> tuple[int, int, str]:
    """frame_order of a file name's stem (a listing's names, without a Path built for each)."""
    if stem.isascii() and stem.isdigit():
        return (0, int(stem), stem)
    return (1, 0, stem)
