#!/usr/bin/env bash
# What we run on a lent CUDA GPU, from the repo root: speed side by side with the official code and
# transformers, parity and bf16 agreement at full size, and short bf16 training runs.
# Prints numbers; fails only when a command fails. Needs no real weights (random ones are made).
set -euo pipefail
export PYTHONUNBUFFERED=1
work=${OUT:-/tmp/samhq_gpu_check}
mkdir -p "$work"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

python3 scripts/benchmark.py --variant vit_b --batch 4 --iters 10 --dtype fp32
python3 scripts/benchmark.py --variant vit_b --batch 4 --iters 10 --dtype bf16 --epoch 64  # attention auto: FlexAttention
python3 scripts/benchmark.py --variant vit_b --batch 4 --iters 10 --dtype bf16 --attention sdpa
python3 scripts/benchmark.py --variant vit_b --batch 4 --iters 10 --dtype bf16 --compile
python3 scripts/benchmark.py --variant vit_h --batch 2 --iters 5 --dtype bf16
python3 scripts/benchmark.py data --epoch --variant vit_b --steps 4 --workers 0 8 --precision bf16-mixed
python3 scripts/benchmark.py policies --variants vit_b --batch 4 --steps 3

python3 -c "from samhq_train.model import build_sam_hq, save_checkpoint; \
save_checkpoint(build_sam_hq('vit_b', seed=0), '$work/sam_hq_vit_b_random.pth', 'sam_hq')"
python3 scripts/check_parity.py --variant vit_b --checkpoint "$work/sam_hq_vit_b_random.pth" --bf16 --transformers

timed() { local start=$SECONDS; "$@"; echo "== $(( SECONDS - start )) s: $*"; }
timed python3 train.py trainer=gpu trainer.precision=bf16-mixed trainer.max_epochs=4 \
    hydra.run.dir="$work/demo_bf16"
timed python3 train.py experiment=paper model=vit_b model.checkpoint="$work/sam_hq_vit_b_random.pth" \
    data=demo trainer=gpu trainer.devices=1 trainer.precision=bf16-mixed trainer.max_epochs=1 \
    trainer.limit_train_batches=40 trainer.limit_val_batches=4 data.num_workers=8 \
    hydra.run.dir="$work/vit_b_bf16"
