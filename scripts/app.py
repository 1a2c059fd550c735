"""Interactive app: python scripts/app.py [CHECKPOINT] (see samhq_train/app/command.py)."""

from samhq_train.app.command import main

if __name__ == "__main__":
    main()
