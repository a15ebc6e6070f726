#!/usr/bin/env bash
# Issue 7 evidence: LoRA fine-tuning from a pretrained encoder against the same architecture with
# random weights (same steps, ranks, seed), on SST-2 and TREC. The four runs go in parallel
# (THREADS cores each). Prints test accuracy (adapter selected on validation) for each run.
# Usage: tools/experiments/finetune_evidence.sh PRETRAINED_DIR RANDOM_DIR OUTDIR [STEPS]
# Env: ADARANK (binary; default: go run), DATA (default ../shared/data), THREADS (default 1).
set -euo pipefail
P=$1; R=$2; O=$3; STEPS=${4:-300}
BIN=${ADARANK:-go run ./cmd/adarank}
data=${DATA:-../shared/data}
mkdir -p "$O"
for task in sst2 trec; do
  for which in pretrained random; do
    M=$P; [ "$which" = random ] && M=$R
    GOMAXPROCS=${THREADS:-1} $BIN train --model "$M" --task "$task" --data "$data/$task" --modules query,value \
      --ranks uniform:8 --steps "$STEPS" --batch 16 --max-len 64 --lr 1e-3 --eval-every 50 --seed 1 --quiet \
      --out "$O/$task-$which" > "$O/$task-$which.log" 2>&1 &
  done
done
wait
echo "| task | encoder | test accuracy | macro-F1 | best step | seconds |"
echo "|---|---|---|---|---|---|"
for task in sst2 trec; do
  for which in pretrained random; do
    python3 - "$O/$task-$which/summary.json" "$task" "$which" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["test"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {t['accuracy']:.4f} | {t['macro_f1']:.4f} | {s.get('best_step')} | {s.get('seconds', 0):.0f} |")
PY
  done
done
