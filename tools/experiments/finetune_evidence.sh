#!/usr/bin/env bash
# Issue 7 evidence: LoRA fine-tuning from a pretrained encoder against the same architecture with
# random weights (same steps, ranks, seed), on SST-2 and TREC. Prints test accuracy (adapter selected
# on validation) for each run.
# Usage: tools/experiments/finetune_evidence.sh PRETRAINED_DIR RANDOM_DIR OUTDIR [STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
P=$1; R=$2; O=$3; STEPS=${4:-300}
BIN=${ADARANK:-go run ./cmd/adarank}
data=${DATA:-../shared/data}
mkdir -p "$O"
for task in sst2 trec; do
  for which in pretrained random; do
    M=$P; [ "$which" = random ] && M=$R
    $BIN train --model "$M" --task "$task" --data "$data/$task" --modules query,value --ranks uniform:8 \
      --steps "$STEPS" --batch 16 --max-len 64 --lr 1e-3 --eval-every 50 --seed 1 --quiet --out "$O/$task-$which" > "$O/$task-$which.log" 2>&1
    python3 - "$O/$task-$which/summary.json" "$task" "$which" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s.get("test", {})
print(f"{sys.argv[2]:6s} {sys.argv[3]:10s} test accuracy {t.get('accuracy', float('nan')):.4f}  macro-F1 {t.get('macro_f1', float('nan')):.4f}")
PY
  done
done
