#!/bin/bash
# One job on a multi-GPU host: parity_and_bench.sh on GPU 0 and study_job.sh on the other GPUs,
# at the same time (the study shards never touch GPU 0, so the timings there are undisturbed by
# other kernels; the host's CPUs are shared). The binaries travel gzipped to stay under the
# device tool's 64 MiB: stage with
#   IMDB=1 tools/gpu/stage_study.sh && CGO_ENABLED=0 go build -tags noembed -ldflags="-s -w" \
#     -o .devbin/gpucheck ./tools/gpu/gpucheck && PACK=1 bash tools/gpu/bench_and_study.sh
# then on the GPU host (carry: [".carry"]):
#   OUT=$OUT TASKS=imdb SEEDGROUPS="1|2 3 4|5" CONFIG=configs/study-gpu-all.json bash tools/gpu/bench_and_study.sh
# Environment: as parity_and_bench.sh and study_job.sh (LIMIT defaults to JOB_SECONDS + 40).
set -u
if [ -n "${PACK:-}" ]; then
	# Keep only what the job needs: both binaries in one archive and the data of TASKS.
	tar czf .carry/bins.tgz -C . .devbin/gpucheck -C .carry bin/adarank
	rm -rf .carry/bin
	for d in .carry/data/*/; do
		case " ${TASKS:-imdb} " in *" $(basename "$d") "*) ;; *) rm -rf "$d" ;; esac
	done
	du -sh .carry .carry/*
	exit 0
fi
OUT=${OUT:-/tmp/bench-and-study}
mkdir -p "$OUT/bench" "$OUT/study" .carry .devbin
tar xzf .carry/bins.tgz -C .carry bin/adarank && tar xzf .carry/bins.tgz .devbin/gpucheck || exit 1
NG=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$NG" -lt 2 ]; then echo "bench_and_study.sh: needs at least 2 GPUs, found $NG" >&2; exit 1; fi
others=$(seq -s, 1 $((NG - 1)))
export JOB_SECONDS=${JOB_SECONDS:-470}
CUDA_VISIBLE_DEVICES=0 OUT=$OUT/bench bash tools/gpu/parity_and_bench.sh > "$OUT/bench.log" 2>&1 &
CUDA_VISIBLE_DEVICES=$others NGPU=$((NG - 1)) OUT=$OUT/study LIMIT=${LIMIT:-$((JOB_SECONDS + 40))} \
	bash tools/gpu/study_job.sh > "$OUT/study.log" 2>&1 &
wait
tail -n 60 "$OUT/bench.log"
tail -n 5 "$OUT/study.log"
