"""samhq-make-demo-data refuses counts and sizes the generator cannot make, in one line naming
the key, before anything is written (num_train=-3 made an empty training set)."""

import pytest

from samhq_train.cli import make_demo_data


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("data.demo.num_train=-3", "data.demo.num_train=-3: expected an integer >= 1"),
        ("data.demo.num_val=-1", "data.demo.num_val=-1: expected an integer >= 0"),
        ("data.demo.height=16", "data.demo.height=16: expected an integer >= 32"),
        ("data.demo.width=2.5", "data.demo.width=2.5: expected an integer >= 32"),
    ],
)
def test_bad_demo_settings_are_one_line_and_write_nothing(tmp_path, capsys, override, line):
    with pytest.raises(SystemExit) as info:
        make_demo_data.main([override, f"data.root={tmp_path / 'demo'}"])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {line}"]
    assert list(tmp_path.iterdir()) == []


def test_the_smallest_demo_set(tmp_path, capsys):
    root = tmp_path / "demo"
    make_demo_data.main(["data.demo.num_train=1", "data.demo.num_val=0", "data.demo.height=32",
                         "data.demo.width=32", f"data.root={root}"])
    assert capsys.readouterr().out == f"demo data ready in {root}\n"
    assert len(list((root / "train" / "images").iterdir())) == 1


def test_a_root_that_is_a_file_is_one_line_and_kept(tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(SystemExit) as info:
        make_demo_data.main([f"data.root={taken}"])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: data.root={taken} is a file, not a folder (the demo data): give a folder (it is "
        "created if missing)"
    ]
    assert taken.read_text() == "mine"
