"""python scripts/predict.py [options]: the installed `samhq-predict`
(samhq_train/cli/predict.py)."""

from samhq_train.cli.predict import main

if __name__ == "__main__":
    main()
