#!/usr/bin/env python3
"""Issue 6 benchmark (b), the PyTorch side: one LoRA training step on a BERT-base-shaped
BertForSequenceClassification (random weights), seq 128, batch 32, r = 8 on query and value
(alpha 16), 2 classes, AdamW lr 1e-4 on the adapters and the classifier, PEFT in eager mode
and/or under torch.compile; plus the measured dense GEMM peak of the card per precision for MFU.
Prints one JSON line per configuration (and appends it to --json). Run on the GPU host:

    python3 tools/gpu/train_step_peft.py --configs eager:fp32,eager:tf32,compile:bf16 --json out.jsonl

Precisions: fp32 (no TF32), tf32 (TF32 matmuls), bf16 (torch.autocast bf16). The step FLOPs
use the same formula as gpucheck's loraStepFLOPs (tools/gpu/gpucheck/train.go), so the
TFLOP/s of both sides are comparable; MFU is against this script's measured GEMM peak of the
same precision (a native bf16 GEMM for bf16)."""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertForSequenceClassification

FLOPS_FORMULA = ("N*L*(4*(4H^2+2HI)+12*T*H) + N*sum_adapters 6r(in+out); N=B*T tokens, frozen base: forward + "
                 "input gradients, attention QK^T,PV forward and dP,dV,dQ,dK backward; embeddings, LayerNorm, "
                 "element-wise ops, pooler and head not counted")


def set_precision(prec):
    tf32 = prec == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def gemm_peak(prec, n=8192, reps=10):
    """TFLOP/s of an n^3 GEMM: fp32 (TF32 off), fp32 with TF32, or native bf16."""
    set_precision(prec)
    dtype = torch.bfloat16 if prec == "bf16" else torch.float32
    a = torch.rand(n, n, device="cuda", dtype=dtype) * 2 - 1
    b = torch.rand(n, n, device="cuda", dtype=dtype) * 2 - 1
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(reps):
        a @ b
    e.record()
    torch.cuda.synchronize()
    del a, b
    torch.cuda.empty_cache()
    return 2 * n ** 3 * reps / (s.elapsed_time(e) / 1e3) / 1e12


def lora_step_flops(cfg, B, T, r, n_modules):
    """gpucheck's loraStepFLOPs for r on n_modules square (H x H) modules."""
    N, H, I, L = B * T, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    return N * L * (4 * (4 * H * H + 2 * H * I) + 12 * T * H) + N * n_modules * 6 * r * (H + H)


def step_time(mode, prec, a):
    set_precision(prec)
    torch._dynamo.reset()
    torch.manual_seed(0)
    B, T = a.batch, a.seq
    cfg = BertConfig(num_labels=2, attn_implementation="sdpa")
    m = BertForSequenceClassification(cfg)
    targets = ["query", "value"]
    m = get_peft_model(m, LoraConfig(task_type="SEQ_CLS", r=a.rank, lora_alpha=a.alpha, target_modules=targets)).cuda()
    m.train()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(1000, 20000, (B, T), device="cuda")
    mask = torch.ones(B, T, dtype=torch.long, device="cuda")
    labels = torch.randint(0, 2, (B,), device="cuda")
    fwd = torch.compile(m) if mode == "compile" else m
    amp = prec == "bf16"

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = fwd(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - t0
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / a.steps
    if a.profile and mode == "eager":
        profile_steps(step, f"{mode} {prec}", a.profile)
    flops = lora_step_flops(cfg, B, T, a.rank, len(targets) * cfg.num_hidden_layers)
    out = dict(kind="train_step", impl=f"pytorch-peft {mode}", case=f"lora bert-base {B}x{T} r{a.rank} q,v",
               precision=prec, ms_per_step=1e3 * dt, tokens_per_s=B * T / dt,
               peak_mem_gib=torch.cuda.max_memory_allocated() / 2 ** 30, tflops=flops / dt / 1e12,
               flops_per_step=flops, flops_formula=FLOPS_FORMULA, steps=a.steps, warmup=a.warmup,
               warmup_s=warm_s, loss=float(loss), compile=mode == "compile", bf16_autocast=amp, tf32=prec == "tf32")
    del fwd, m, opt
    torch.cuda.empty_cache()
    return out


def profile_steps(step, name, rows, steps=3):
    """Prints the CUDA kernels of `steps` steps by total GPU time per step (torch.profiler), to
    compare with gpucheck's per-op profile."""
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    print(f"profile {name}: CUDA kernels, {steps} steps (times are totals over the steps)", flush=True)
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=rows, max_name_column_width=90), flush=True)


def emit(rec, path):
    line = json.dumps(rec)
    print(line, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="eager:fp32,eager:tf32,eager:bf16,compile:fp32,compile:tf32,compile:bf16",
                    help="comma-separated MODE:PRECISION, MODE eager|compile, PRECISION fp32|tf32|bf16")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (torch.compile compiles in these)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--json", default="", help="append the JSON lines to this file")
    ap.add_argument("--profile", type=int, default=0, metavar="ROWS",
                    help="after timing an eager configuration, print its top ROWS CUDA kernels (torch.profiler)")
    a = ap.parse_args()
    configs = []
    for c in a.configs.split(","):
        mode, _, prec = c.strip().partition(":")
        if mode not in ("eager", "compile") or prec not in ("fp32", "tf32", "bf16"):
            ap.error(f"bad config {c!r} (want eager|compile:fp32|tf32|bf16)")
        configs.append((mode, prec))
    a.warmup = max(a.warmup, 1)

    import peft
    import transformers
    precs = sorted({p for _, p in configs})
    peaks = {p: gemm_peak(p) for p in precs}
    emit(dict(kind="torch_info", torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__,
              gpu=torch.cuda.get_device_name(0), **{f"peak_{p}_tflops": v for p, v in peaks.items()}), a.json)
    for mode, prec in configs:
        try:
            r = step_time(mode, prec, a)
            r["peak_tflops"] = peaks[prec]
            r["mfu"] = r["tflops"] / peaks[prec]
            emit(r, a.json)
        except Exception as e:  # keep the other configurations
            emit(dict(kind="train_step", impl=f"pytorch-peft {mode}", precision=prec, error=str(e)[:300]), a.json)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
