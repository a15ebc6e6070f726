#!/usr/bin/env python3
"""PyTorch reference for bench/forward: the same BERT-base-shaped encoder forward
(inference, batch x seq tokens, random weights), written directly in torch so it runs
with Debian's python3-torch (no transformers). Prints median tokens/s and peak RSS."""
import argparse
import resource
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    H, I, nh, V = 768, 3072, 12, 30522
    hs = H // nh
    g = lambda *s: torch.randn(*s) * 0.02
    emb = [g(V, H), g(512, H), g(2, H)]
    layers = [dict(q=g(H, H), k=g(H, H), v=g(H, H), o=g(H, H), fi=g(I, H), fo=g(H, I),
                   bq=torch.zeros(H), bk=torch.zeros(H), bv=torch.zeros(H), bo=torch.zeros(H),
                   bfi=torch.zeros(I), bfo=torch.zeros(H)) for _ in range(a.layers)]
    pool = g(H, H)
    ones, zeros = torch.ones(H), torch.zeros(H)
    ids = torch.randint(1000, 21000, (a.batch, a.seq))

    def forward():
        x = emb[0][ids] + emb[1][: a.seq] + emb[2][0]
        x = F.layer_norm(x, (H,), ones, zeros, 1e-12)
        B, T = ids.shape
        for L in layers:
            q = F.linear(x, L["q"], L["bq"]).view(B, T, nh, hs).transpose(1, 2)
            k = F.linear(x, L["k"], L["bk"]).view(B, T, nh, hs).transpose(1, 2)
            v = F.linear(x, L["v"], L["bv"]).view(B, T, nh, hs).transpose(1, 2)
            att = torch.softmax(q @ k.transpose(-1, -2) / hs ** 0.5, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, T, H)
            x = F.layer_norm(x + F.linear(ctx, L["o"], L["bo"]), (H,), ones, zeros, 1e-12)
            h = F.gelu(F.linear(x, L["fi"], L["bfi"]))
            x = F.layer_norm(x + F.linear(h, L["fo"], L["bfo"]), (H,), ones, zeros, 1e-12)
        return torch.tanh(F.linear(x[:, 0], pool))

    with torch.inference_mode():
        forward()
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            forward()
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"pytorch {torch.__version__} forward: batch {a.batch}x{a.seq}, {a.layers} layers, {a.threads} threads: "
          f"median {med:.3f}s, {a.batch * a.seq / med:.0f} tokens/s, peak RSS {rss} kB")


if __name__ == "__main__":
    main()
