#!/usr/bin/env bash
# One LoRA training update (BERT-base shape, batch 8 x 128, r = 8 on query and value, random
# weights, dropout 0.1, AdamW): adarank vs PyTorch, same machine, same run, 2 threads each.
# Prints a markdown table of the median seconds per update of each round. Installs Debian's
# python3-torch if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-torch >/dev/null
fi
reps=${REPS:-5}
rounds=${ROUNDS:-3}
go build -o /tmp/adarank-bench-train-step ./bench/train_step
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $reps updates per round"
log=$(mktemp)
for round in $(seq "$rounds"); do
  GOMAXPROCS=2 /tmp/adarank-bench-train-step -reps "$reps" | tee -a "$log"
  OMP_NUM_THREADS=2 /usr/bin/python3 bench/train_step_torch.py --threads 2 --reps "$reps" | tee -a "$log"
done
echo
echo "| round | adarank s/update | adarank tokens/s | adarank peak RSS | PyTorch s/update | PyTorch tokens/s | PyTorch peak RSS |"
echo "|---|---|---|---|---|---|---|"
awk '
  /^adarank/ { match($0, /median [0-9.]+s/); a_s = substr($0, RSTART+7, RLENGTH-8)
               match($0, /[0-9]+ tokens\/s/); a_t = substr($0, RSTART, RLENGTH-9)
               match($0, /peak RSS .*/); a_m = substr($0, RSTART+9) }
  /^pytorch/ { match($0, /median [0-9.]+s/); p_s = substr($0, RSTART+7, RLENGTH-8)
               match($0, /[0-9]+ tokens\/s/); p_t = substr($0, RSTART, RLENGTH-9)
               match($0, /peak RSS .*/); p_m = substr($0, RSTART+9)
               n++; printf "| %d | %s | %s | %s | %s | %s | %s |\n", n, a_s, a_t, a_m, p_s, p_t, p_m }
' "$log"
rm -f "$log"
