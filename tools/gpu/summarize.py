#!/usr/bin/env python3
"""Prints the comparison table of tools/gpu/parity_and_bench.sh from the JSON lines that
gpucheck and sweep_torch.py wrote (plain python3, no torch needed)."""
import json
import sys


def main():
    rows = []
    for path in sys.argv[1:]:
        try:
            with open(path) as f:
                rows += [json.loads(line) for line in f if line.strip()]
        except OSError as e:
            print(f"summarize: {e}")
    dev = next((r["device"] for r in rows if r.get("kind") == "device"), "?")
    times = [r for r in rows if r.get("kind") == "time"]
    noise = {r["case"]: r for r in rows if r.get("kind") == "noise"}
    print(f"\nAdaRank sweep, BERT-base shape, query,key,value,attn-out x 12 layers = 48 modules, 2 copies; {dev}")
    print("time per module-trial (both copies); full = x 48 modules x 5 trials")
    print(f"{'case':<9} {'prec':<5} {'adarank cuda':>13} {'pytorch':>10} {'ratio':>7} {'full cuda':>10} {'full torch':>11} {'cpu noise':>10}")
    cases = sorted({(r["case"], r["precision"]) for r in times if r["impl"] in ("adarank-cuda", "pytorch")})
    for case, prec in cases:
        ours = next((r for r in times if r["impl"] == "adarank-cuda" and r["case"] == case and r["precision"] == prec), None)
        ref = next((r for r in times if r["impl"] == "pytorch" and r["case"] == case and r["precision"] == prec), None)
        o = ours["per_module_trial"] if ours else None
        p = ref["per_module_trial"] if ref else None
        ratio = f"{p / o:.2f}x" if o and p else "-"
        nz = noise.get(case)
        nzs = f"{1e3 * nz['seconds'] / nz['module_trials']:.2f} ms" if nz else "-"
        fmt = lambda x, k=1e3, u="ms": f"{x * k:.2f} {u}" if x else "-"
        print(f"{case:<9} {prec:<5} {fmt(o):>13} {fmt(p):>10} {ratio:>7} {fmt(o and o * 240, 1, 's'):>10} "
              f"{fmt(p and p * 240, 1, 's'):>11} {nzs:>10}")
    for r in times:
        if r["impl"].startswith("adarank-cuda "):
            print(f"{r['case']:<9} {r['precision']:<5} variant {r['impl']}: {1e3 * r['per_module_trial']:.2f} ms per module-trial")
    for r in times:
        if r["impl"] == "adarank-cpu":
            print(f"{r['case']:<9} fp32  adarank CPU engine on the GPU host: {1e3 * r['per_module_trial']:.1f} ms per module-trial")
    fails = [r for r in rows if r.get("kind") in ("forward", "sweep_parity")]
    if fails:
        worst_fwd = {}
        for r in rows:
            if r.get("kind") == "forward":
                k = r["precision"]
                worst_fwd[k] = max(worst_fwd.get(k, 0), r["hidden_rel"], r["pooled_rel"])
        worst_sw = {}
        for r in rows:
            if r.get("kind") == "sweep_parity":
                k = r["precision"]
                worst_sw[k] = max(worst_sw.get(k, 0), r["max_rel"])
        print("parity vs CPU engine, worst rel error: forward " +
              ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst_fwd.items())) +
              "; sweep importances " + ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst_sw.items())))


if __name__ == "__main__":
    main()
