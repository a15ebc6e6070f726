#!/usr/bin/env python3
"""Issue 6 benchmark (b), the PyTorch side: one LoRA training step on a BERT-base-shaped
BertForSequenceClassification (random weights), seq 128, batch 32, r = 8 on query and value,
PEFT in eager mode and under torch.compile; plus the measured dense GEMM peak of the card for MFU.
Prints one JSON line per configuration. Run on the GPU host: python3 tools/gpu/train_step_peft.py"""
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertForSequenceClassification


def gemm_peak(dtype, n=8192, reps=20):
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(reps):
        a @ b
    e.record()
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (s.elapsed_time(e) / 1e3) / 1e12


def step_time(compile_, amp, tf32, B=32, T=128, reps=30):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(0)
    cfg = BertConfig(num_labels=2, attn_implementation="sdpa")
    m = BertForSequenceClassification(cfg)
    m = get_peft_model(m, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=["query", "value"])).cuda()
    m.train()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(1000, 20000, (B, T), device="cuda")
    mask = torch.ones(B, T, dtype=torch.long, device="cuda")
    labels = torch.randint(0, 2, (B,), device="cuda")
    fwd = torch.compile(m) if compile_ else m

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = fwd(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps
    n_params = sum(p.numel() for p in m.parameters())
    # Forward + input-gradient backward through the frozen base ≈ 4 · params · tokens
    # (no weight gradients for frozen matrices), plus attention.
    flops = 4 * n_params * B * T + 4 * 12 * 2 * B * T * T * 768
    return dict(compile=compile_, bf16_autocast=amp, tf32=tf32, seconds=dt, tokens_per_s=B * T / dt,
                peak_mem_gib=torch.cuda.max_memory_allocated() / 2 ** 30, tflops=flops / dt / 1e12)


def main():
    import peft
    import transformers
    info = dict(torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__,
                gpu=torch.cuda.get_device_name(0), peak_fp32_tflops=gemm_peak(torch.float32),
                peak_bf16_tflops=gemm_peak(torch.bfloat16))
    torch.backends.cuda.matmul.allow_tf32 = True
    info["peak_tf32_tflops"] = gemm_peak(torch.float32)
    torch.backends.cuda.matmul.allow_tf32 = False
    print(json.dumps(info), flush=True)
    for compile_ in (False, True):
        for amp, tf32 in ((False, False), (False, True), (True, False)):
            try:
                print(json.dumps(step_time(compile_, amp, tf32)), flush=True)
            except Exception as e:  # keep the other configurations
                print(json.dumps(dict(compile=compile_, bf16_autocast=amp, tf32=tf32, error=str(e)[:300])), flush=True)


if __name__ == "__main__":
    main()
