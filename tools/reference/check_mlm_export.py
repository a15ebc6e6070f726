#!/usr/bin/env python3
"""Check a model folder written by `adarank pretrain` against transformers.

Runs on the GPU host (torch + transformers + tokenizers). Inputs:
  --model DIR   the exported folder (config.json, model.safetensors, vocab.txt, tokenizer.json)
  --dump FILE   `adarank encode --model DIR --dump FILE < TEXTS` output: input_ids, attention_mask,
                token_type_ids, last_hidden_state, mlm_logits computed by adarank
  --texts FILE  the texts given to adarank, one per line
Checks: (1) the HF `tokenizers` library (tokenizer.json) and AutoTokenizer give adarank's ids exactly;
(2) BertForMaskedLM.from_pretrained(DIR) gives adarank's last hidden state and MLM logits within --tol
(relative to the largest magnitude, over real tokens). Exit 1 on any failure.
"""
import argparse
import json
import sys

import torch
from safetensors.torch import load_file


def rel_err(got, want, mask):
    keep = mask.bool()
    g, w = got[keep].double(), want[keep].double()
    return ((g - w).abs().max() / w.abs().max().clamp_min(1e-12)).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    import transformers
    import tokenizers
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    print(f"torch {torch.__version__} transformers {transformers.__version__} tokenizers {tokenizers.__version__}")
    ours = load_file(a.dump)
    texts = [l.rstrip("\n") for l in open(a.texts, encoding="utf-8")]
    B, T = ours["input_ids"].shape
    ok = True

    tk = tokenizers.Tokenizer.from_file(f"{a.model}/tokenizer.json")
    tk.enable_truncation(max_length=T)
    for i, t in enumerate(texts):
        ids = tk.encode(t).ids
        n = int(ours["attention_mask"][i].sum())
        if ids != ours["input_ids"][i, :n].tolist():
            print(f"tokenizers mismatch on text {i}: {t!r}\n  hf   {ids}\n  ours {ours['input_ids'][i, :n].tolist()}")
            ok = False
    auto = AutoTokenizer.from_pretrained(a.model)
    enc = auto(texts, padding="longest", truncation=True, max_length=T, return_tensors="pt")
    if enc["input_ids"].shape != ours["input_ids"].shape or not torch.equal(enc["input_ids"], ours["input_ids"]):
        print("AutoTokenizer ids differ from adarank's")
        ok = False
    else:
        print(f"tokenizer: {B} texts, ids identical (tokenizers and AutoTokenizer)")

    model = AutoModelForMaskedLM.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        out = model(input_ids=ours["input_ids"], attention_mask=ours["attention_mask"],
                    token_type_ids=ours["token_type_ids"], output_hidden_states=True)
    mask = ours["attention_mask"]
    e_h = rel_err(ours["last_hidden_state"], out.hidden_states[-1], mask)
    e_l = rel_err(ours["mlm_logits"], out.logits, mask)
    print(json.dumps({"last_hidden_state_rel_err": e_h, "mlm_logits_rel_err": e_l, "tol": a.tol}))
    if e_h > a.tol or e_l > a.tol:
        ok = False
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
