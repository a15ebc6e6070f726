#!/bin/bash
# Stages a GPU study job (tools/gpu/study_job.sh) into .carry/ (git-ignored): the static adarank
# binary and the TREC, SST-2 and AG News data from ../shared/data; with IMDB=1 also a deterministic
# IMDB subset in the original format (data rows i % 3 == 0 of train.tsv.gz, 8,334 rows, and
# i % 5 == 0 of test.tsv.gz, 5,000 rows; i counts data rows from 0), because the full 25 MB does not
# fit the device tool's 64 MiB next to the repository (40 MB) and the binary. Nothing here is
# ever committed.
#   IMDB=1 tools/gpu/stage_study.sh
set -eu
SHARED=${SHARED:-../shared}
rm -rf .carry/corpus .carry/data .carry/bin
mkdir -p .carry/data .carry/bin
CGO_ENABLED=0 go build -tags noembed -ldflags="-s -w" -o .carry/bin/adarank ./cmd/adarank
cp -r "$SHARED"/data/trec "$SHARED"/data/sst2 "$SHARED"/data/ag_news .carry/data/
if [ -n "${IMDB:-}" ]; then
	mkdir -p .carry/data/imdb
	zcat "$SHARED"/data/imdb/train.tsv.gz | awk 'NR == 1 || (NR - 2) % 3 == 0' | gzip -9 > .carry/data/imdb/train.tsv.gz
	zcat "$SHARED"/data/imdb/test.tsv.gz | awk 'NR == 1 || (NR - 2) % 5 == 0' | gzip -9 > .carry/data/imdb/test.tsv.gz
fi
du -sh .carry .carry/data/*
