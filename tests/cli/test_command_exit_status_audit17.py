"""exit_on_user_error: a main called with keyword arguments only (a script's main(argv=...)) is
a caller, not the installed command: it gets the record back. Mutation audit 17."""

from samhq_train.errors import exit_on_user_error


def test_a_call_with_keyword_arguments_only_returns_the_record():
    """Mutant: only positional arguments tell a caller (main(argv=[...]) gave None)."""
    record = {"written": "x"}
    main = exit_on_user_error(lambda argv=None: record)
    assert main(argv=["--x"]) is record
