"""Interactive app: python scripts/app.py [CHECKPOINT] (see samhq_train/app/command.py)."""

from samhq_train.cli.commands import app as main  # a signal while it imports is one line

if __name__ == "__main__":
    main()
