#!/bin/bash
# Checks and times the CUDA backend on the GPU host in one job (see docs/cuda.md).
# Run from the repository root, with the gpucheck binary built here beforehand:
#   CGO_ENABLED=0 go build -o .devbin/gpucheck ./tools/gpu/gpucheck
# and, through the device tool, carry: [".devbin"]:
#   bash tools/gpu/parity_and_bench.sh
# Environment: OUT (results folder), BIG_TRIALS (trials per module in the 256x128 case,
# default 1: the time per module-trial is what is compared), GPUCHECK_ARGS.
set -u
OUT=${OUT:-/tmp/adarank-gpu}
mkdir -p "$OUT"
BIG_TRIALS=${BIG_TRIALS:-1}
export PYTHONUNBUFFERED=1
date -u +"date %Y-%m-%dT%H:%M:%SZ"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
rm -f "$OUT/gpucheck.jsonl" "$OUT/torch.jsonl"
timeout ${GPUCHECK_TIMEOUT:-200} .devbin/gpucheck -json "$OUT/gpucheck.jsonl" -big-trials "$BIG_TRIALS" ${GPUCHECK_ARGS:-} 2>&1 | tee "$OUT/gpucheck.log"
rc=${PIPESTATUS[0]}
for prec in fp32 tf32; do
	timeout ${TORCH_TIMEOUT:-60} python3 tools/gpu/sweep_torch.py --case 9x40 --probes 9 --seq 40 --trials 5 --precision $prec --json "$OUT/torch.jsonl" 2>&1 | tee -a "$OUT/torch.log"
	timeout ${TORCH_TIMEOUT:-60} python3 tools/gpu/sweep_torch.py --case 256x128 --probes 256 --seq 128 --trials "$BIG_TRIALS" --precision $prec --json "$OUT/torch.jsonl" 2>&1 | tee -a "$OUT/torch.log"
done
python3 tools/gpu/summarize.py "$OUT/gpucheck.jsonl" "$OUT/torch.jsonl" | tee "$OUT/summary.txt"
echo "gpucheck exit status $rc"
exit $rc
