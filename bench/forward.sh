#!/usr/bin/env bash
# Encoder forward (BERT-base shape, batch 8 x 128, random weights): adarank vs PyTorch,
# same machine, same run, 2 threads each. Installs Debian's python3-torch if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-torch >/dev/null
fi
reps=${REPS:-5}
go build -o /tmp/adarank-bench-forward ./bench/forward
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for round in 1 2 3; do
  GOMAXPROCS=2 /tmp/adarank-bench-forward -reps "$reps"
  OMP_NUM_THREADS=2 /usr/bin/python3 bench/forward_torch.py --threads 2 --reps "$reps"
done
