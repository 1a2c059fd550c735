"""python scripts/evaluate.py [hydra overrides]: the installed `samhq-evaluate`
(samhq_train/cli/evaluate.py), e.g. after the demo:

    python scripts/evaluate.py data=demo model=vit_demo_base \\
        model.checkpoint=outputs/<run>/checkpoints/last.ckpt
"""

from samhq_train.cli.commands import evaluate as main  # a signal while it imports is one line

if __name__ == "__main__":
    main()
