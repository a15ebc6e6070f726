#!/usr/bin/env python3
"""PyTorch reference for bench/train_step: one LoRA training update of a BERT-base-shaped
encoder with random weights (batch x seq tokens, LoRA r on query and value with scale
alpha/r, frozen base, dropout 0.1, BERT classification head on the pooled output, mean
cross-entropy, AdamW), written directly in torch so it runs with Debian's python3-torch
(no transformers, no peft). Prints median seconds per update, tokens/s and peak RSS."""
import argparse
import math
import resource
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    H, I, nh, V, C, p = 768, 3072, 12, 30522, 2, 0.1
    hs, r, scale = H // nh, a.rank, a.alpha / a.rank
    g = lambda *s: torch.randn(*s) * 0.02  # frozen (requires_grad False)
    emb = [g(V, H), g(512, H), g(2, H)]
    layers = [dict(q=g(H, H), k=g(H, H), v=g(H, H), o=g(H, H), fi=g(I, H), fo=g(H, I),
                   bq=torch.zeros(H), bk=torch.zeros(H), bv=torch.zeros(H), bo=torch.zeros(H),
                   bfi=torch.zeros(I), bfo=torch.zeros(H)) for _ in range(a.layers)]
    pool, pool_b = g(H, H), torch.zeros(H)
    ones, zeros = torch.ones(H), torch.zeros(H)
    # Trainable: LoRA A (kaiming-uniform, U(+-1/sqrt(in))), B = 0, and the classifier.
    lora = []
    for _ in range(a.layers):
        pair = {}
        for name in ("q", "v"):
            A = ((torch.rand(r, H) * 2 - 1) / math.sqrt(H)).requires_grad_()
            B = torch.zeros(H, r, requires_grad=True)
            pair[name] = (A, B)
        lora.append(pair)
    cls_w = (torch.randn(C, H) * 0.02).requires_grad_()
    cls_b = torch.zeros(C, requires_grad=True)
    params = [t for pair in lora for ab in pair.values() for t in ab] + [cls_w, cls_b]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    ids = torch.randint(1000, 21000, (a.batch, a.seq))
    labels = torch.arange(a.batch) % 2

    def lin_lora(x, w, b, ab):
        A, B = ab
        return F.linear(x, w, b) + scale * F.linear(F.linear(x, A), B)

    def step():
        opt.zero_grad(set_to_none=True)
        x = emb[0][ids] + emb[1][: a.seq] + emb[2][0]
        x = F.dropout(F.layer_norm(x, (H,), ones, zeros, 1e-12), p, True)
        Bn, T = ids.shape
        for L, ab in zip(layers, lora):
            q = lin_lora(x, L["q"], L["bq"], ab["q"]).view(Bn, T, nh, hs).transpose(1, 2)
            k = F.linear(x, L["k"], L["bk"]).view(Bn, T, nh, hs).transpose(1, 2)
            v = lin_lora(x, L["v"], L["bv"], ab["v"]).view(Bn, T, nh, hs).transpose(1, 2)
            att = F.dropout(torch.softmax(q @ k.transpose(-1, -2) / hs ** 0.5, dim=-1), p, True)
            ctx = (att @ v).transpose(1, 2).reshape(Bn, T, H)
            x = F.layer_norm(x + F.dropout(F.linear(ctx, L["o"], L["bo"]), p, True), (H,), ones, zeros, 1e-12)
            h = F.gelu(F.linear(x, L["fi"], L["bfi"]))
            x = F.layer_norm(x + F.dropout(F.linear(h, L["fo"], L["bfo"]), p, True), (H,), ones, zeros, 1e-12)
        pooled = torch.tanh(F.linear(x[:, 0], pool, pool_b))
        logits = F.linear(F.dropout(pooled, p, True), cls_w, cls_b)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        return float(loss)

    step()  # warm-up
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"pytorch {torch.__version__} train step: batch {a.batch}x{a.seq}, {a.layers} layers, LoRA r={r} on query+value, "
          f"{a.threads} threads: median {med:.3f}s, {a.batch * a.seq / med:.0f} tokens/s, peak RSS {rss} kB")


if __name__ == "__main__":
    main()
