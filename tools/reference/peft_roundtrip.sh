#!/usr/bin/env bash
# On the GPU host (torch + transformers + peft): adarank predicts ranks on a fixture base model,
# trains a LoRA adapter with them, merges it, and PEFT / transformers must reproduce adarank's
# logits from the adapter and from the merged checkpoint (tools/reference/check_peft_export.py).
# Usage: tools/reference/peft_roundtrip.sh ADARANK_BINARY WORKDIR
set -euo pipefail
BIN=$1; W=$2
mkdir -p "$W"
python3 - "$W" <<'PY'
import random, sys, os
w = sys.argv[1]
random.seed(1)
words = "the a cat dog bird sat ran flew on over under mat house tree river garden quickly slowly".split()
os.makedirs(f"{w}/data", exist_ok=True)
for split, n in (("train", 120), ("test", 30)):
    with open(f"{w}/data/{split}.tsv", "w") as f:
        f.write("text\tlabel\n")
        for i in range(n):
            lab = i % 3
            f.write(" ".join(random.choice(words) for _ in range(6 + lab * 3)) + f"\t{lab}\n")
with open(f"{w}/texts.txt", "w") as f:
    f.write("the cat sat on the mat\nA bird flew over the river quickly!\nCrème brûlée, 東京 and emoji 🤖\nshort\n")
PY
status=0
for name in lora-bert lora-roberta; do
  B=testdata/reference/lora/$name/base
  O=$W/$name
  "$BIN" predict --model "$B" --modules query,value,attn-out --avg-rank 4 --trials 2 --out "$O/pred" --quiet > /dev/null
  "$BIN" train --model "$B" --data "$W/data" --ranks "$O/pred/ranks.json" --steps 20 --batch 8 --eval-every 10 --seed 1 --quiet --out "$O/adapter" > /dev/null
  "$BIN" merge --model "$B" --adapter "$O/adapter" --out "$O/merged" > /dev/null
  "$BIN" merge --base-only --model "$B" --adapter "$O/adapter" --out "$O/base" > /dev/null
  "$BIN" eval --model "$B" --adapter "$O/adapter" --text "$W/texts.txt" --inputs-out "$O/inputs.safetensors" > /dev/null
  echo "== $name: rank_pattern $(tr -d ' \n' < "$O/adapter/adapter_config.json" | grep -o '"rank_pattern":{[^}]*}')"
  python3 tools/reference/check_peft_export.py --base "$O/base" --adapter "$O/adapter" --merged "$O/merged" \
    --inputs "$O/inputs.safetensors" || status=1
done
exit $status
