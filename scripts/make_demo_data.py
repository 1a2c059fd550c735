"""python scripts/make_demo_data.py [options]: the installed `samhq-make-demo-data`
(samhq_train/cli/make_demo_data.py)."""

from samhq_train.cli.commands import make_demo_data as main  # a signal while it imports is one line

if __name__ == "__main__":
    main()
