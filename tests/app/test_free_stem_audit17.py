"""app/engine.py free_stem: a save takes the first stem none of whose files is there.
Mutation audit 17."""

from samhq_train.app.engine import free_stem

SAVE = ("_mask.png", "_sam_mask.png", ".json")


def test_a_stem_is_taken_when_any_one_of_its_files_is_there(tmp_path):
    """Mutant: taken only when all of them are (a save then replaced the one there)."""
    assert free_stem(tmp_path, "cat", SAVE) == "cat"
    (tmp_path / "cat.json").write_text("{}")
    assert free_stem(tmp_path, "cat", SAVE) == "cat_2"
    (tmp_path / "cat_2_sam_mask.png").write_bytes(b"")
    assert free_stem(tmp_path, "cat", SAVE) == "cat_3"
