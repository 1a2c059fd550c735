"""Audit 21: which folders beside `path` are an interrupted atomic_write_folder's earlier folder
(interrupted_writes) and what a reader is told about them (interrupted_write_note). The kill is
staged by hand: the earlier folder renamed aside as the writer names it, `path` missing."""

import os

from samhq_train.files import atomic_write_folder, interrupted_write_note, interrupted_writes


def left_aside(parent, name, token, mtime):
    aside = parent / f".{name}.{token}.old"
    aside.mkdir(parents=True)
    (aside / "notes.txt").write_text(token)
    os.utime(aside, (mtime, mtime))
    return aside


def test_the_note_names_the_latest_earlier_folder_and_the_name_to_give_back(tmp_path):
    """Two interrupted writes: the strays oldest first, the note names the newest (its name
    sorts first) and says to rename it back to the folder's own name. Mutants: strays[0];
    sorted by name; the stray's name where the folder's belongs."""
    older = left_aside(tmp_path, "out", "zzzz", 1_000_000)
    newer = left_aside(tmp_path, "out", "aaaa", 2_000_000)
    assert interrupted_writes(tmp_path / "out") == [older, newer]
    assert interrupted_write_note(tmp_path / "out") == (
        f" (an interrupted write left the earlier out at {newer}: rename it back to out, or "
        "write it again)"
    )


def test_another_folders_strays_and_files_named_like_one_are_not_this_folders(tmp_path):
    """`out.v2`'s earlier folder (.out.v2.<id>.old) is not `out`'s; a file named like a stray
    is none (only a folder is put back). Mutants: any characters as the id; no is_dir check."""
    left_aside(tmp_path, "out.v2", "abcd", 1_000_000)
    (tmp_path / ".out.efgh.old").write_text("a file")
    assert interrupted_writes(tmp_path / "out") == []
    assert interrupted_write_note(tmp_path / "out") == ""


def test_a_path_under_a_missing_folder_has_no_strays(tmp_path):
    """Mutant: only PermissionError caught (a missing parent raised FileNotFoundError)."""
    assert interrupted_writes(tmp_path / "gone" / "out") == []
    assert interrupted_write_note(tmp_path / "gone" / "out") == ""


def test_the_next_write_puts_the_earlier_folder_back_and_removes_the_dead_temporary(tmp_path):
    """The killed write's temporary (.out.<id>.tmp, half written) goes when its earlier folder
    is put back; the user's file reaches the new folder."""
    left_aside(tmp_path, "out", "k1ll", 1_000_000)
    (tmp_path / ".out.k1ll.tmp").mkdir()
    (tmp_path / ".out.k1ll.tmp" / "a.json").write_text("half")

    def write(folder):
        (folder / "a.json").write_text("new")

    atomic_write_folder(tmp_path / "out", write, replaces=("a.json",))
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert (tmp_path / "out" / "notes.txt").read_text() == "k1ll"
    assert (tmp_path / "out" / "a.json").read_text() == "new"


def test_a_stray_entry_whose_name_the_folder_holds_stays_aside_with_its_folder(tmp_path):
    """A kill left the earlier folder aside after the new one got in, and the user has since
    written notes.txt into the new one: the next write keeps the newer notes.txt in place and
    the earlier one aside (its folder not removed). Mutants: the earlier file moved over the
    newer; the aside folder removed whatever it still holds."""
    aside = left_aside(tmp_path, "out", "k1ll", 1_000_000)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("newer")

    def write(folder):
        (folder / "a.json").write_text("new")

    atomic_write_folder(tmp_path / "out", write, replaces=("a.json",))
    assert (tmp_path / "out" / "notes.txt").read_text() == "newer"
    assert (aside / "notes.txt").read_text() == "k1ll"
    assert interrupted_writes(tmp_path / "out") == [aside]
