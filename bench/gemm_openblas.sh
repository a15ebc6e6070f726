#!/usr/bin/env bash
# gemm_openblas.sh: adarank's SGEMM (internal/kernels) against OpenBLAS
# cblas_sgemm, both on 2 threads (or $THREADS), on the encoder's shapes, side by side in one
# run. Each round runs both programs once per shape, back to back
# (alternating which goes first); the table shows the median GFLOP/s over the
# rounds and the ratio.
#
#   bench/gemm_openblas.sh [rounds]          (default 7; run from anywhere)
#   THREADS=1 bench/gemm_openblas.sh         (per-core comparison)
#
# Installs libopenblas-dev with apt-get if it is missing (needs root).
# OpenBLAS picks its kernel from the CPU at run time; OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE, when set, are unset for the OpenBLAS runs only (see
# bench/README.md), and the kernel it used is printed.
set -euo pipefail
rounds=${1:-7}
threads=${THREADS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
	echo "installing libopenblas-dev..." >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev >&2
fi
inc=/usr/include/x86_64-linux-gnu/openblas-pthread
lib=/usr/lib/x86_64-linux-gnu/openblas-pthread
[ -d "$inc" ] || inc=/usr/include/openblas
cc -O2 -I"$inc" -o "$tmp/openblas_sgemm" "$root/bench/openblas_sgemm.c" -L"$lib" -Wl,-rpath,"$lib" -lopenblas -lpthread
(cd "$root" && go build -o "$tmp/sgemm" ./bench/sgemm)

# name:transA:transB:m:n:k:batch (op(A) m×k, op(B) k×n, row-major).
shapes=(
	768x768x768_NN:N:N:768:768:768:1
	768x768x768_NT:N:T:768:768:768:1
	1024x768x3072_NT:N:T:1024:768:3072:1
	1024x3072x768_NT:N:T:1024:3072:768:1
	1024x3072x768_NN:N:N:1024:3072:768:1
	768x3072x1024_TN:T:N:768:3072:1024:1
	96x128x128x64_NT:N:T:128:128:64:96
	96x128x64x128_NN:N:N:128:64:128:96
)
ob() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" BENCH_THREADS="$threads" "$tmp/openblas_sgemm" "$@"; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(go version | cut -d' ' -f3), $threads threads"
echo "# $(ob -info); env OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "# CPU idle before the run: $(vmstat 2 2 | tail -1 | awk '{print $15}')% (other load skews both columns)"
# Shape by shape, the two programs back to back (which goes first
# alternates), so both see the same load on this shared machine.
for ((r = 0; r < rounds; r++)); do
	for s in "${shapes[@]}"; do
		if ((r % 2 == 0)); then
			ob "$s"
			"$tmp/sgemm" -threads "$threads" "$s"
		else
			"$tmp/sgemm" -threads "$threads" "$s"
			ob "$s"
		fi
	done
done >"$tmp/raw"

# Table: medians per (implementation, shape); "openblas" is the better of
# cblas_sgemm in a loop (all threads inside each call) and, for batches, the batch
# split over the threads (1 OpenBLAS thread each).
awk -v rounds="$rounds" '
function median(key,   n, i, j, t, v) {
	n = cnt[key]
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{ key = $1 SUBSEP $2; val[key, ++cnt[key]] = $3; if (!($2 in seen)) { seen[$2] = 1; order[++ns] = $2 } }
END {
	printf "%-20s %10s %10s %12s %7s\n", "shape (GFLOP/s)", "adarank", "openblas", "openblas-par", "ratio"
	for (s = 1; s <= ns; s++) {
		name = order[s]
		a = median("adarank" SUBSEP name)
		o = median("openblas" SUBSEP name)
		p = (("openblas-par" SUBSEP name) in cnt) ? median("openblas-par" SUBSEP name) : 0
		best = p > o ? p : o
		printf "%-20s %10.1f %10.1f %12s %7.2f\n", name, a, o, p ? sprintf("%.1f", p) : "-", a / best
	}
	printf "(median of %d rounds; ratio = adarank / best OpenBLAS column)\n", rounds
}' "$tmp/raw"
