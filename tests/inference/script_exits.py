"""What the scripts' tests expect of a refused run: the setup-error exit and one error line."""

import pytest

from samhq_train.errors import SETUP_ERROR_EXIT


def exits_with_one_line(main, argv, capsys) -> str:
    """Run a script's main; it must exit with the setup-error code and one stderr line, no
    traceback. Returns that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == SETUP_ERROR_EXIT
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err and "weights_only" not in err, err
    return lines[0]
