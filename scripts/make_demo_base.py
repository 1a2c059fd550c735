"""python scripts/make_demo_base.py [options]: the installed `samhq-make-demo-base`
(samhq_train/cli/make_demo_base.py)."""

from samhq_train.cli.commands import make_demo_base as main  # a signal while it imports is one line

if __name__ == "__main__":
    main()
