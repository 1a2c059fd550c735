"""`scripts/benchmark.py --cpu-table --train-only` (scripts/benchmark_cpu.py's training-step rows,
built from scripts/benchmark.py's step code) runs end to end at a tiny size and prints every row."""

import subprocess
import sys

from tests.training.helpers import ROOT


def test_cpu_table_training_rows_run():
    out = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--cpu-table", "--train-only",
         "--variant", "vit_demo", "--reps", "1", "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
    ).stdout
    for step in ("samhq_train training step", "samhq_train training step, cached",
                 "official training step"):
        for dtype in ("bf16", "fp32"):
            assert f"| {step}, {dtype} |" in out
