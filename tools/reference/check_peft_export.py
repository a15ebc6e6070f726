#!/usr/bin/env python3
"""Check that a LoRA adapter (or merged checkpoint) exported by adarank gives adarank's logits in
Hugging Face transformers + PEFT.

  check_peft_export.py --base DIR --adapter DIR --inputs FILE.safetensors
  check_peft_export.py --merged DIR --inputs FILE.safetensors

FILE.safetensors holds input_ids, attention_mask, token_type_ids (I64 [B,T]; token_type_ids
optional) and `logits` (F32 [B,C]) as computed by adarank. The model is loaded with
AutoModelForSequenceClassification in float32 (eval mode, no dropout); with --base/--adapter the
adapter is applied by PeftModel.from_pretrained. --base/--adapter and --merged may be given
together: both are checked. Prints the max absolute and relative errors and exits 1 if the max
absolute error exceeds --tol (default 1e-4), 2 on bad arguments or files.
"""

import argparse
import os
import sys


def load_inputs(path):
    from safetensors.torch import load_file

    t = load_file(path)
    for k in ("input_ids", "attention_mask", "logits"):
        if k not in t:
            raise ValueError(f"{path}: missing tensor {k!r} (has {sorted(t)})")
    return t


def load_model(cls, d):
    import torch

    try:
        m = cls.from_pretrained(d, dtype=torch.float32)
    except TypeError:
        m = cls.from_pretrained(d, torch_dtype=torch.float32)
    return m.float().eval()


def logits_of(model, t):
    import torch

    kw = {"input_ids": t["input_ids"].long(), "attention_mask": t["attention_mask"].long()}
    if "token_type_ids" in t:
        kw["token_type_ids"] = t["token_type_ids"].long()
    with torch.no_grad():
        return model(**kw).logits.float()


def compare(label, got, want, tol):
    if got.shape != want.shape:
        print(f"{label}: logits shape {list(got.shape)}, adarank gave {list(want.shape)}")
        return False
    err = (got - want).abs()
    max_abs = float(err.max())
    max_rel = float((err / want.abs().clamp_min(1e-6)).max())
    scale_rel = max_abs / max(float(want.abs().max()), 1e-12)
    ok = max_abs <= tol
    print(f"{label}: max abs error {max_abs:.3g}, max rel error {max_rel:.3g}, "
          f"abs error / max |logit| {scale_rel:.3g} -> {'ok' if ok else 'FAIL'} (tol {tol:g})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="base model folder (save_pretrained layout)")
    ap.add_argument("--adapter", help="PEFT adapter folder (adapter_config.json, adapter_model.safetensors)")
    ap.add_argument("--merged", help="merged full checkpoint folder")
    ap.add_argument("--inputs", required=True, help="safetensors with inputs and adarank's logits")
    ap.add_argument("--tol", type=float, default=1e-4, help="max absolute error allowed")
    args = ap.parse_args()
    if bool(args.base) != bool(args.adapter):
        print("--base and --adapter go together")
        return 2
    if not args.base and not args.merged:
        print("give --base and --adapter, or --merged")
        return 2
    for d in (args.base, args.adapter, args.merged):
        if d and not os.path.isdir(d):
            print(f"no such folder: {d}")
            return 2

    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    try:
        t = load_inputs(args.inputs)
    except Exception as e:  # noqa: BLE001 - one clear message
        print(f"cannot read {args.inputs}: {e}")
        return 2
    want = t["logits"].float()
    ok = True
    if args.base:
        from peft import PeftModel

        base = load_model(AutoModelForSequenceClassification, args.base)
        model = PeftModel.from_pretrained(base, args.adapter).eval()
        ok = compare(f"base {args.base} + adapter {args.adapter}", logits_of(model, t), want, args.tol) and ok
    if args.merged:
        model = load_model(AutoModelForSequenceClassification, args.merged)
        ok = compare(f"merged {args.merged}", logits_of(model, t), want, args.tol) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
