#!/bin/bash
# One GPU pretraining job (run through the device tool after tools/gpu/stage_corpus.sh, carrying
# .carry): times 40 steps, sizes --steps so that the run fits MINUTES, pretrains with
# --precision bf16 (cuBLAS's bf16-compute mode; fp32 master weights and Adam state), exports the model (BF16) and writes to
# $OUT: the model's safetensors split into parts under 16 MiB (reassemble with cat) and
# pretrain.tgz (config, tokenizer, training.json, metrics.jsonl, logs).
#   OUT=$OUT MINUTES=7 bash tools/gpu/pretrain_job.sh
set -u
OUT=${OUT:-/tmp/pt-out}
MINUTES=${MINUTES:-7}
BATCH=${BATCH:-128}
PREC=${PREC:-bf16}
LR=${LR:-1e-3}
SEED=${SEED:-3}
A=.carry/bin/adarank
W=/tmp/pt
rm -rf "$W" /tmp/calib
mkdir -p "$OUT" "$W"
t0=$(date +%s)
date -u +"date %Y-%m-%dT%H:%M:%SZ"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
common=(--corpus .carry/corpus/wiki,.carry/corpus/gut --heldout .carry/corpus/heldout --data .carry/data
	--config "${CONFIG:-configs/pretrain-6x384.json}" --tokenizer internal/defaultmodel/model --device "${DEVICE:-cuda}" --precision "$PREC"
	--batch "$BATCH" --seq-len 128 --seed "$SEED" --lr "$LR")
$A pretrain "${common[@]}" --steps 40 --out /tmp/calib --eval-every 1000 2>&1 | tee "$W/calib.log"
if [ "${PIPESTATUS[0]}" != 0 ] && [ "$PREC" = bf16 ]; then
	echo "bf16 calibration failed; falling back to tf32"
	PREC=tf32
	common=("${common[@]/bf16/tf32}")
	rm -rf /tmp/calib
	$A pretrain "${common[@]}" --steps 40 --out /tmp/calib --eval-every 1000 2>&1 | tee "$W/calib.log"
fi
tps=$(grep -o '[0-9.]* tok/s' "$W/calib.log" | tail -1 | cut -d' ' -f1)
el=$(( $(date +%s) - t0 ))
# Budget: MINUTES of job time, less what is spent, about 60 s for data loading, evaluation and export.
steps=$(awk -v tps="$tps" -v m="$MINUTES" -v el="$el" -v b="$BATCH" 'BEGIN { s = int((m*60 - el - 60) * tps / (b*128)); print (s < 100 ? 100 : s) }')
warm=$(( steps / 16 ))
echo "calibration: $tps tokens/s after $el s; planning $steps steps ($warm warm-up)"
mkdir -p "$W/run" && cp -r /tmp/calib/data "$W/run/"
left=$(awk -v m="$MINUTES" -v el="$(( $(date +%s) - t0 ))" 'BEGIN { print (m*60 - el - 30) / 60 }')
$A pretrain "${common[@]}" --steps "$steps" --warmup "$warm" --out "$W/run" --eval-every 1000 --dtype BF16 \
	--max-minutes "$left" --save-every-min 100 2>&1 | tee "$W/pretrain.log"
rc=${PIPESTATUS[0]}
cp "$W/run/metrics.jsonl" "$W/calib.log" "$W/pretrain.log" "$W/run/model/" 2>/dev/null
( cd "$W/run/model" && split -b 15000000 -d model.safetensors "$OUT/model.safetensors.part" && tar czf "$OUT/pretrain.tgz" --exclude model.safetensors . )
ls -la "$OUT"
echo "pretrain exit status $rc, job $(( $(date +%s) - t0 )) s"
exit $rc
