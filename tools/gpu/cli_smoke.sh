#!/bin/bash
# End-to-end check of the adarank binary on the GPU host: predict on the GPU
# and the CPU (ranks must agree), LoRA fine-tuning of the embedded encoder on
# TREC with the AdaRank ranks on the GPU (tf32) and evaluation. Stage with
#   bash tools/gpu/stage_study.sh      (binary and task data in .carry/)
# then on the GPU host (carry: [".carry"]):
#   OUT=$OUT bash tools/gpu/cli_smoke.sh
set -u
A=${ADARANK:-.carry/bin/adarank}
M=${MODEL:-internal/defaultmodel/model}
OUT=${OUT:-/tmp/cli-smoke}
STEPS=${STEPS:-500}
mkdir -p "$OUT"
date -u +"date %Y-%m-%dT%H:%M:%SZ"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null
rc=0
step() { echo "== $*"; local t0=$SECONDS; "$@"; local r=$?; echo "== exit $r after $((SECONDS - t0)) s"; [ $r -eq 0 ] || rc=1; }
step $A predict --model "$M" --device cuda --out "$OUT/predict-gpu" > "$OUT/predict-gpu.txt" 2>&1
step $A predict --model "$M" --device cpu --out "$OUT/predict-cpu" > "$OUT/predict-cpu.txt" 2>&1
if cmp -s <(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rank_lists"])' "$OUT/predict-gpu/ranks.json") \
	<(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rank_lists"])' "$OUT/predict-cpu/ranks.json"); then
	echo "ok   predicted ranks identical on GPU and CPU"
else
	echo "FAIL predicted ranks differ between GPU and CPU"; rc=1
fi
# 256 TREC probes on the GPU in tf32 (fused attention) and fp32: rank lists compared (tf32 may move a rank
# where an importance sits on a rounding boundary; reported, not required).
for p in fp32 tf32; do
	step $A predict --model "$M" --probe-task trec --data .carry/data/trec --probe-n 256 --device cuda --precision $p \
		--out "$OUT/predict-trec-$p" > "$OUT/predict-trec-$p.txt" 2>&1
done
python3 - "$OUT" <<'PY'
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/predict-trec-{p}/ranks.json"))["rank_lists"] for p in ("fp32", "tf32"))
nums = lambda s: [int(x) for x in s.replace("[", " ").replace("]", " ").replace(",", " ").split()]
diff = sum(x != y for t in a for x, y in zip(nums(a[t]), nums(b[t])))
print(f"trec probes: {diff} of {sum(len(nums(v)) for v in a.values())} ranks differ between fp32 and tf32")
PY
step $A train --model "$M" --task trec --data .carry/data/trec --ranks "$OUT/predict-gpu/ranks.json" --modules query,value \
	--steps "$STEPS" --device cuda --precision tf32 --out "$OUT/train" > "$OUT/train.txt" 2>&1
tail -n 4 "$OUT/train.txt"
step $A eval --model "$M" --adapter "$OUT/train" --task trec --data .carry/data/trec --device cuda > "$OUT/eval.txt" 2>&1
tail -n 6 "$OUT/eval.txt"
echo "cli smoke: exit $rc"
exit $rc
