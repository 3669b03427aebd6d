#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run (about 8 minutes on an H100): the tests marked
# cuda, the GPU benchmark at the original scale, and the deep hedge against the model hedge
# (configs/buehler.yaml) trained on 20x the CPU run's paths. Run from the project root with
# the project's Python (PYTHON=...); each step has its own time limit and the log goes to
# $OUT/gpu_checks.log when OUT is set.
set -u
PY=${PYTHON:-python3}
LOG=${OUT:-/tmp}/gpu_checks.log
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 LTH_PROGRESS=0
{
  nvidia-smi -L
  $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
  echo "== tests marked cuda"
  timeout 150 $PY -m pytest -q -m cuda $(grep -l "mark.cuda" tests/*.py)
  echo "== benchmarks/bench_gpu.py"
  (cd benchmarks && timeout 200 $PY bench_gpu.py)
  echo "== tools/model_hedge_gap.py at 400k training paths"
  timeout 240 $PY tools/model_hedge_gap.py configs/buehler.yaml runtime.device=cuda \
    runtime.num_threads=16 caching.directory=/tmp/lth_cache experiments.directory=/tmp/lth_exp \
    "data.n_paths={train: 400000, val: 20000, test: 20000}" training.epochs=20 \
    training.learning_rate=0.001 --rates 0.001,0.002
} 2>&1 | tee "$LOG"
