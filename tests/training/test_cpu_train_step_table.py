"""`scripts/benchmark.py --cpu-table --train-only` (scripts/benchmark_cpu.py's training-step rows,
built from scripts/benchmark.py's step code) runs end to end at a tiny size and prints every row."""

from tests.script_modules import run_script_here


def test_cpu_table_training_rows_run(capsys, monkeypatch):
    out = run_script_here("benchmark", "--cpu-table", "--train-only", "--variant", "vit_demo",
                          "--reps", "1", "--threads", "1", capsys=capsys, monkeypatch=monkeypatch)
    for step in ("samhq_train training step", "samhq_train training step, cached",
                 "official training step"):
        for dtype in ("bf16", "fp32"):
            assert f"| {step}, {dtype} |" in out
