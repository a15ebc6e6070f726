#!/bin/bash
# Checks and times the CUDA backend on the GPU host in one job (see docs/cuda.md):
#   1. gpucheck: forward, sweep and training parity (fp32, tf32, bf16; CPU engine and the
#      PyTorch PEFT fixtures), sweep timing, LoRA training-step and full-training timing;
#   2. the PyTorch sweep reference (sweep_torch.py), fp32 and tf32, 9x40 and 256x128;
#   3. the PyTorch LoRA training step (train_step_peft.py): eager fp32, eager tf32, torch.compile bf16;
#   4. summarize.py: one table, ours vs PyTorch per precision.
# Run from the repository root, with the gpucheck binary built here beforehand:
#   CGO_ENABLED=0 go build -tags noembed -ldflags="-s -w" -o .devbin/gpucheck ./tools/gpu/gpucheck
# and, through the device tool, carry: [".devbin"]:
#   bash tools/gpu/parity_and_bench.sh
# Every step has a time limit, and the whole job stays within JOB_SECONDS (default 470 s,
# under the 8-minute budget) however slow a step is: a step gets at most what is left.
# Environment: OUT (results folder), BIG_TRIALS (trials per module of the PyTorch 256x128 case,
# default 1: the time per module-trial is what is compared), GPUCHECK_BIG_TRIALS (ours, default 5), GPUCHECK_ARGS, JOB_SECONDS,
# GPUCHECK_TIMEOUT, TORCH_TIMEOUT (per sweep run), TRAIN_TIMEOUT, TRAIN_CONFIGS, TORCH_PROFILE_ROWS
# (print the top N CUDA kernels of each eager PyTorch training step).
set -u
OUT=${OUT:-/tmp/adarank-gpu}
mkdir -p "$OUT"
BIG_TRIALS=${BIG_TRIALS:-1}
# Our sweep reuses work across the trials of a module (the unperturbed layer's intermediates),
# so it is timed with the issue's 5 trials; PyTorch's per-module-trial cost does not depend on them.
GPUCHECK_BIG_TRIALS=${GPUCHECK_BIG_TRIALS:-5}
JOB_SECONDS=${JOB_SECONDS:-470}
TRAIN_CONFIGS=${TRAIN_CONFIGS:-eager:fp32,eager:tf32,compile:bf16}
export PYTHONUNBUFFERED=1
SECONDS=0
# limit N: N seconds, or what is left of the job (less 10 s for the summary), at least 1.
limit() {
	local left=$((JOB_SECONDS - SECONDS - 10))
	if [ "$left" -lt 1 ]; then left=1; fi
	if [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}
date -u +"date %Y-%m-%dT%H:%M:%SZ"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
rm -f "$OUT/gpucheck.jsonl" "$OUT/torch.jsonl" "$OUT/torch_train.jsonl"

timeout "$(limit "${GPUCHECK_TIMEOUT:-300}")" .devbin/gpucheck -json "$OUT/gpucheck.jsonl" -big-trials "$GPUCHECK_BIG_TRIALS" \
	${GPUCHECK_ARGS:-} 2>&1 | tee "$OUT/gpucheck.log"
rc=${PIPESTATUS[0]}
echo "gpucheck: exit status $rc after ${SECONDS}s"

for prec in fp32 tf32; do
	timeout "$(limit "${TORCH_TIMEOUT:-60}")" python3 tools/gpu/sweep_torch.py --case 9x40 --probes 9 --seq 40 --trials 5 \
		--precision $prec --json "$OUT/torch.jsonl" 2>&1 | tee -a "$OUT/torch.log"
	timeout "$(limit "${TORCH_TIMEOUT:-60}")" python3 tools/gpu/sweep_torch.py --case 256x128 --probes 256 --seq 128 \
		--trials "$BIG_TRIALS" --precision $prec --json "$OUT/torch.jsonl" 2>&1 | tee -a "$OUT/torch.log"
done
echo "torch sweeps done after ${SECONDS}s"

timeout "$(limit "${TRAIN_TIMEOUT:-240}")" python3 tools/gpu/train_step_peft.py --configs "$TRAIN_CONFIGS" --profile "${TORCH_PROFILE_ROWS:-0}" \
	--json "$OUT/torch_train.jsonl" 2>&1 | tee "$OUT/torch_train.log"
echo "torch training step: exit status ${PIPESTATUS[0]} after ${SECONDS}s"

python3 tools/gpu/summarize.py "$OUT/gpucheck.jsonl" "$OUT/torch.jsonl" "$OUT/torch_train.jsonl" | tee "$OUT/summary.txt"
echo "gpucheck exit status $rc; job ${SECONDS}s"
exit $rc
