#!/usr/bin/env python3
"""PyTorch reference for the AdaRank sweep on the GPU, done the straightforward way:
for every module, layer, trial and copy, add N(0, (scale*std(W))^2) noise to the weight
(and bias) in place, run the whole model, restore the weight; the disagreement is the
mean |pooled_copy0 - pooled_copy1|. BERT-base shape, random weights (std 0.02, zero
biases, as `model.NewRandom` in the Go benchmark), written directly in torch like
bench/forward_torch.py (no transformers). Prints the time and appends one JSON line."""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="")
    ap.add_argument("--probes", type=int, default=9)
    ap.add_argument("--seq", type=int, default=40)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--modules", default="query,key,value,attn-out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--precision", choices=["fp32", "tf32"], default="fp32")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = "cuda"
    torch.manual_seed(0)
    H, I, nh, V = 768, 3072, 12, 30522
    hs = H // nh
    g = lambda *s: torch.randn(*s, device=dev) * 0.02
    z = lambda *s: torch.zeros(*s, device=dev)
    emb = [g(V, H), g(512, H), g(2, H)]
    layers = [dict(q=g(H, H), k=g(H, H), v=g(H, H), o=g(H, H), fi=g(I, H), fo=g(H, I),
                   bq=z(H), bk=z(H), bv=z(H), bo=z(H), bfi=z(I), bfo=z(H)) for _ in range(a.layers)]
    pool_w, pool_b = g(H, H), z(H)
    ones, zeros = torch.ones(H, device=dev), torch.zeros(H, device=dev)
    B, T = a.probes, a.seq
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1000, 21000, (B, T), generator=gen)
    mask = torch.zeros(B, T)
    for s in range(B):  # ragged lengths, padded, as the Go benchmark
        n = T - int(torch.randint(0, T // 2, (1,), generator=gen))
        mask[s, :n] = 1
    ids = (ids * mask.long()).to(dev)
    mask = mask.to(dev)
    ext = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
    pos = torch.arange(T, device=dev)

    def forward():
        x = emb[0][ids] + emb[1][pos] + emb[2][0]
        x = F.layer_norm(x, (H,), ones, zeros, 1e-12)
        for L in layers:
            q = F.linear(x, L["q"], L["bq"]).view(B, T, nh, hs).transpose(1, 2)
            k = F.linear(x, L["k"], L["bk"]).view(B, T, nh, hs).transpose(1, 2)
            v = F.linear(x, L["v"], L["bv"]).view(B, T, nh, hs).transpose(1, 2)
            att = torch.softmax(q @ k.transpose(-1, -2) / hs ** 0.5 + ext, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, T, H)
            x = F.layer_norm(x + F.linear(ctx, L["o"], L["bo"]), (H,), ones, zeros, 1e-12)
            h = F.gelu(F.linear(x, L["fi"], L["bfi"]))
            x = F.layer_norm(x + F.linear(h, L["fo"], L["bfo"]), (H,), ones, zeros, 1e-12)
        return torch.tanh(F.linear(x[:, 0], pool_w, pool_b))

    names = {"query": ("q", "bq"), "key": ("k", "bk"), "value": ("v", "bv"), "attn-out": ("o", "bo"),
             "ffn-in": ("fi", "bfi"), "ffn-out": ("fo", "bfo")}
    mods = a.modules.split(",")

    def perturb(t):
        t.add_(torch.randn_like(t) * (t.std(unbiased=False) * a.scale))

    def sweep(mods, trials):
        out = []
        for typ in mods:
            wn, bn = names[typ]
            for L in layers:
                W, b = L[wn], L[bn]
                for _ in range(trials):
                    outs = []
                    for _ in range(2):
                        w0, b0 = W.clone(), b.clone()
                        perturb(W)
                        perturb(b)
                        outs.append(forward())
                        W.copy_(w0)
                        b.copy_(b0)
                    out.append((outs[0] - outs[1]).abs().mean())
        return torch.stack(out).cpu()

    with torch.inference_mode():
        sweep(["value"], 1)  # warm-up: kernels, cuBLAS handles, allocator
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        imps = sweep(mods, a.trials)
        torch.cuda.synchronize()
        sec = time.perf_counter() - t0
    n = len(mods) * a.layers * a.trials
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"pytorch {torch.__version__} {a.precision} sweep {a.case} ({B}x{T}): {n} module-trials x 2 copies in {sec:.3f}s "
          f"({1e3 * sec / n:.2f} ms per module-trial), peak {peak:.2f} GiB, first importance {float(imps[0]):.4g}")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps({"kind": "time", "impl": "pytorch", "case": a.case, "precision": a.precision,
                                "seconds": sec, "module_trials": n, "per_module_trial": sec / n,
                                "torch": torch.__version__, "device": torch.cuda.get_device_name(),
                                "peak_gib": peak}) + "\n")


if __name__ == "__main__":
    main()
