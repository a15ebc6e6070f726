#!/bin/bash
# Runs the AdaRank study grid (CONFIG, default configs/study-gpu.json) as shards in parallel on every GPU of one
# host (several shards per GPU: one shard's small kernels leave a GPU mostly idle), each shard in
# its own folder, stopped after LIMIT seconds (unfinished cells are simply left out), then merges
# the cell folders (without adapter weights), writes the report and packs $OUT/study.tgz.
# Stage first with tools/gpu/stage_study.sh (binary and task data in .carry/).
#   OUT=$OUT LIMIT=500 bash tools/gpu/study_job.sh
# The IMDB cells (stage with IMDB=1 tools/gpu/stage_study.sh):
#   OUT=$OUT CONFIG=configs/study-gpu-all.json TASKS=imdb SEEDGROUPS="1|2 3 4|5" bash tools/gpu/study_job.sh
set -u
A=${ADARANK:-.carry/bin/adarank}
CONFIG=${CONFIG:-configs/study-gpu.json}
LIMIT=${LIMIT:-500}
PREC=${PREC:-tf32}
OUT=${OUT:-/tmp/study-out}
S=/tmp/study
[ -n "${KEEP:-}" ] || rm -rf "$S"; mkdir -p "$S" "$OUT"
date -u +"date %Y-%m-%dT%H:%M:%SZ"
NG=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
[ "$NG" -ge 1 ] || NG=1
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader 2>/dev/null
# Shards: per task (TASKS), three module groups (faithful value|all, standard, faithful
# query|key|attn-out), each split by seed groups (SEEDGROUPS, space-separated), dealt round-robin
# to the GPUs.
TASKS=${TASKS:-trec sst2 ag_news}
SEEDGROUPS=${SEEDGROUPS:-1|2|3|4|5}
shards=()
g=0
for group in "setting=faithful,modules=value|all" "setting=standard" "setting=faithful,modules=query|key|attn-out"; do
	for task in $TASKS; do
		for sg in $SEEDGROUPS; do
			shards+=("task=$task,$group,seed=$sg:$g"); g=$(( g + 1 ))
		done
	done
done
i=0
for s in "${shards[@]}"; do
	filter=${s%:*}; gpu=$(( ${s##*:} % NG ))
	dev=${DEVICE:-cuda:$gpu}
	timeout "$LIMIT" $A study --config "$CONFIG" --out "$S/shard$i" --only "$filter" --device "$dev" --precision "$PREC" \
		--quiet --no-report > "$S/shard$i.log" 2>&1 &
	i=$(( i + 1 ))
done
wait
M=$S/merged; rm -rf "$M"
mkdir -p "$M/cells" "$M/importance"
for d in "$S"/shard*/; do
	[ -f "$d/study.json" ] && cp "$d/study.json" "$M/"
	cp -r "$d"/importance/. "$M/importance/" 2>/dev/null
	for c in "$d"/cells/*/; do
		[ -f "$c/summary.json" ] || continue
		n=$(basename "$c"); mkdir -p "$M/cells/$n"
		cp "$c"/cell.json "$c"/summary.json "$c"/metrics.jsonl "$M/cells/$n/" 2>/dev/null
	done
done
echo "finished cells: $(ls "$M/cells" | wc -l)"
$A study report --out "$M" > "$S/report.log" 2>&1; echo "report exit $?"
tail -n 5 "$S"/shard*.log > "$S/shard-tails.txt"
cp "$S"/shard*.log "$M/" 2>/dev/null
tar czf "$OUT/study.tgz" -C "$M" .
ls -la "$OUT"
