"""python scripts/evaluate.py [options]: the installed `samhq-evaluate`
(samhq_train/cli/evaluate.py)."""

from samhq_train.cli.evaluate import main

if __name__ == "__main__":
    main()
