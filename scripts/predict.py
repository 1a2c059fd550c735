"""python scripts/predict.py [options]: the installed `samhq-predict`
(samhq_train/cli/predict.py)."""

from samhq_train.cli.commands import predict as main  # a signal while it imports is one line

if __name__ == "__main__":
    main()
