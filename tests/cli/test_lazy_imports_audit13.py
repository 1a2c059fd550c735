"""samhq-train and samhq-evaluate import their run (Lightning, torchmetrics: seconds of CPU in
every process) only for a command line that passed the config check (audit 13): importing the
commands, and a command line the check refuses (one error line, exit 2), load neither."""

import subprocess
import sys
import textwrap

HEAVY = ("lightning", "torchmetrics")

SCRIPT = textwrap.dedent("""
    import sys
    import samhq_train.cli.evaluate, samhq_train.cli.train
    heavy = {heavy!r}
    print("imported", sorted(m for m in heavy if m in sys.modules))
    for module, args in (
        (samhq_train.cli.train, ["trainer.max_epochs=-3", "hydra.run.dir={tmp}/train"]),
        (samhq_train.cli.evaluate, ["data=demo", "data.prompts.eval_prompt=scribble",
                                    "output_dir={tmp}/eval"]),
    ):
        sys.argv = [module.__name__, *args]
        try:
            module.main()
        except SystemExit as stop:
            print(module.__name__, stop.code, sorted(m for m in heavy if m in sys.modules))
""")


def test_the_commands_and_their_refusals_do_not_import_the_training_stack(tmp_path):
    """Mutants: cli/train (or cli/evaluate) importing its run at module level; run() without
    its config check first (the run's own check refuses the line, after importing the stack)."""
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(heavy=HEAVY, tmp=tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.splitlines() == [
        "imported []", "samhq_train.cli.train 2 []", "samhq_train.cli.evaluate 2 []"
    ], done.stdout + done.stderr
    assert "error: trainer.max_epochs=-3" in done.stderr
    assert "error: data.prompts.eval_prompt=scribble" in done.stderr
