#!/bin/bash
# Stages what a GPU pretraining job needs into .carry/ (git-ignored; the device tool carries
# at most 64 MiB with the working tree): the static adarank binary, a deterministic subset of
# ../shared/corpus within a byte budget (Wikipedia shards and Gutenberg books in name order,
# about two thirds Wikipedia), the held-out shards, and the training splits of SST-2, TREC and
# AG News. Nothing here is ever committed. With a 40 MB budget the carried paths come to about
# 57 MB, which fits beside the repository only if the call does not also send the 34 MB embedded
# model: move internal/defaultmodel/model/model.safetensors out of the working tree for that call
# (the job uses --tokenizer internal/defaultmodel/model and trains from scratch) and put it back.
#   tools/gpu/stage_corpus.sh [BUDGET_MB (default 40)]
set -eu
BUDGET=$(( ${1:-40} * 1000000 ))
SHARED=${SHARED:-../shared}
rm -rf .carry/corpus .carry/data .carry/bin
mkdir -p .carry/corpus/wiki .carry/corpus/gut .carry/corpus/heldout .carry/data .carry/bin
CGO_ENABLED=0 go build -tags noembed -ldflags="-s -w" -o .carry/bin/adarank ./cmd/adarank
cp "$SHARED"/corpus/heldout/* .carry/corpus/heldout/
cp -r "$SHARED"/data/trec "$SHARED"/data/sst2 "$SHARED"/data/ag_news .carry/data/
wiki_budget=$(( BUDGET * 2 / 3 ))
used=0
for f in $(ls "$SHARED"/corpus/wikipedia/*.txt.gz | sort); do
	s=$(stat -c %s "$f"); [ $(( used + s )) -gt $wiki_budget ] && break
	cp "$f" .carry/corpus/wiki/; used=$(( used + s ))
done
for f in $(ls "$SHARED"/corpus/gutenberg/*.txt.gz | sort); do
	s=$(stat -c %s "$f"); [ $(( used + s )) -gt $BUDGET ] && continue
	cp "$f" .carry/corpus/gut/; used=$(( used + s ))
done
echo "staged $(ls .carry/corpus/wiki | wc -l) Wikipedia shards and $(ls .carry/corpus/gut | wc -l) books, $used bytes compressed"
du -sh .carry
