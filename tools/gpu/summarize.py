#!/usr/bin/env python3
"""Prints the comparison table of tools/gpu/parity_and_bench.sh from the JSON lines that
gpucheck, sweep_torch.py and train_step_peft.py wrote (plain python3, no torch needed):
usage: summarize.py FILE.jsonl ..."""
import json
import sys


def load(paths):
    rows = []
    for path in paths:
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        print(f"summarize: {path}: skipping a line that is not JSON")
        except OSError as e:
            print(f"summarize: {e}")
    return rows


def f_ms(x):
    return f"{x:.2f}" if x else "-"


def f_tok(x):
    return f"{x / 1e3:.1f}k" if x else "-"


def f_gib(x):
    return f"{x:.2f}" if x else "-"


def f_pct(x):
    return f"{100 * x:.1f}%" if x else "-"


PREC_ORDER = {"fp32": 0, "tf32": 1, "bf16": 2, "bf16-native": 3}


def main():
    rows = load(sys.argv[1:])
    dev = next((r["device"] for r in rows if r.get("kind") == "device"), "?")
    tinfo = next((r for r in rows if r.get("kind") == "torch_info"), None)
    times = [r for r in rows if r.get("kind") == "time"]
    steps = [r for r in rows if r.get("kind") == "train_step" and "error" not in r]
    noise = {r["case"]: r for r in rows if r.get("kind") == "noise"}

    print(f"\nadarank CUDA vs PyTorch on {dev}" + (f" (torch {tinfo['torch']}, peft {tinfo['peft']})" if tinfo else ""))
    print("sweep: AdaRank sweep, BERT-base shape, query,key,value,attn-out x 12 layers, 2 copies; ms per module-trial")
    print("lora step: one LoRA training step, BERT-base 32x128, r=8 on query,value, AdamW; ms per step;")
    print("  MFU = model FLOPs (same formula both sides, see flops_formula) / time / measured GEMM peak of that precision")
    hdr = (f"{'workload':<17} {'prec':<5} {'pytorch impl':<15} {'ours ms':>9} {'torch ms':>9} {'speed-up':>8} "
           f"{'ours tok/s':>10} {'torch tok/s':>11} {'ours GiB':>8} {'torch GiB':>9} {'ours MFU':>8} {'torch MFU':>9}")
    print(hdr)
    print("-" * len(hdr))

    def line(work, prec, impl, o_ms, t_ms, o_tok=None, t_tok=None, o_gib=None, t_gib=None, o_mfu=None, t_mfu=None):
        ratio = f"{t_ms / o_ms:.2f}x" if o_ms and t_ms else "-"
        print(f"{work:<17} {prec:<5} {impl:<15} {f_ms(o_ms):>9} {f_ms(t_ms):>9} {ratio:>8} {f_tok(o_tok):>10} "
              f"{f_tok(t_tok):>11} {f_gib(o_gib):>8} {f_gib(t_gib):>9} {f_pct(o_mfu):>8} {f_pct(t_mfu):>9}")

    # Sweep rows.
    cases = sorted({(r["case"], r["precision"]) for r in times if r["impl"] in ("adarank-cuda", "pytorch")},
                   key=lambda k: (k[0], PREC_ORDER.get(k[1], 9)))
    for case, prec in cases:
        ours = next((r for r in times if r["impl"] == "adarank-cuda" and r["case"] == case and r["precision"] == prec), None)
        ref = next((r for r in times if r["impl"] == "pytorch" and r["case"] == case and r["precision"] == prec), None)
        line(f"sweep {case}", prec, "manual" if ref else "-", ours and 1e3 * ours["per_module_trial"],
             ref and 1e3 * ref["per_module_trial"], t_gib=ref and ref.get("peak_gib"))
    # LoRA training-step rows: ours against every PyTorch configuration of the same precision.
    precs = sorted({r["precision"] for r in steps}, key=lambda p: PREC_ORDER.get(p, 9))
    for prec in precs:
        ours = next((r for r in steps if r["impl"] == "adarank-cuda" and r["precision"] == prec), None)
        refs = [r for r in steps if r["impl"].startswith("pytorch") and r["precision"] == prec]
        for ref in refs or [None]:
            g = lambda r, k: r.get(k) if r else None
            line("lora step", prec, ref["impl"].replace("pytorch-peft ", "peft ") if ref else "-",
                 g(ours, "ms_per_step"), g(ref, "ms_per_step"), g(ours, "tokens_per_s"), g(ref, "tokens_per_s"),
                 g(ours, "peak_mem_gib"), g(ref, "peak_mem_gib"), g(ours, "mfu"), g(ref, "mfu"))
    for r in rows:
        if r.get("kind") == "train_step" and "error" in r:
            print(f"lora step {r.get('precision', '?')} {r.get('impl', '?')}: failed: {r['error']}")

    # Notes under the table.
    for case, nz in sorted(noise.items()):
        print(f"sweep {case}: CPU noise generation alone {1e3 * nz['seconds'] / nz['module_trials']:.2f} ms per module-trial")
    for r in times:
        if r["impl"].startswith("adarank-cuda "):
            print(f"sweep {r['case']} {r['precision']} variant {r['impl']}: {1e3 * r['per_module_trial']:.2f} ms per module-trial")
    for r in times:
        if r["impl"] == "adarank-cpu":
            print(f"sweep {r['case']} fp32 adarank CPU engine on the GPU host: {1e3 * r['per_module_trial']:.1f} ms per module-trial")
    peaks = {r["precision"]: r["tflops"] for r in rows if r.get("kind") == "gemm_peak"}
    if peaks or tinfo:
        parts = []
        for p in sorted(set(peaks) | {k[5:-7] for k in (tinfo or {}) if k.startswith("peak_") and k.endswith("_tflops")},
                        key=lambda p: PREC_ORDER.get(p, 9)):
            o = peaks.get(p)
            t = tinfo.get(f"peak_{p}_tflops") if tinfo else None
            parts.append(f"{p} ours {o:.0f}" if o else f"{p} ours -")
            parts[-1] += f" / torch {t:.0f}" if t else " / torch -"
        print("measured 8192^3 GEMM peak, TFLOP/s: " + ", ".join(parts) +
              " (ours bf16 = cublasGemmEx FAST_16BF on fp32 buffers; torch bf16 = native bf16 tensors)")
    for r in rows:
        if r.get("kind") == "pretrain_step":
            print(f"full training {r['case']} {r['precision']}: {r['ms_per_step']:.2f} ms/step, "
                  f"{r['tokens_per_s'] / 1e3:.1f}k tokens/s, peak {r['peak_mem_gib']:.2f} GiB, "
                  f"MFU {f_pct(r.get('mfu'))}")

    # Parity.
    worst_fwd, worst_sw, worst_tr = {}, {}, {}
    for r in rows:
        k = r.get("kind")
        if k == "forward":
            p = r["precision"]
            worst_fwd[p] = max(worst_fwd.get(p, 0), r["hidden_rel"], r["pooled_rel"])
        elif k == "sweep_parity":
            p = r["precision"]
            worst_sw[p] = max(worst_sw.get(p, 0), r["max_rel"])
        elif k == "train_parity":
            key = (r["precision"], r["against"])
            if key not in worst_tr or r["max_rel"] > worst_tr[key][0]:
                worst_tr[key] = (r["max_rel"], f"{r['mode']} {r['model']}")
    if worst_fwd or worst_sw:
        print("parity vs CPU engine, worst rel error: forward " +
              ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst_fwd.items())) +
              "; sweep importances " + ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst_sw.items())))
    if worst_tr:
        print("training gradients, worst rel error: " + ", ".join(
            f"{p} vs {a} {v:.1e} ({where})" for (p, a), (v, where) in
            sorted(worst_tr.items(), key=lambda kv: (PREC_ORDER.get(kv[0][0], 9), kv[0][1]))))
    # Per-op GPU time (gpucheck -profile): the six largest ops per case and precision.
    prof = {}
    for r in rows:
        if r.get("kind") == "op_profile":
            prof.setdefault((r["case"], r["precision"]), []).append(r)
    for (case, prec), ops in sorted(prof.items(), key=lambda kv: (kv[0][0], PREC_ORDER.get(kv[0][1], 9))):
        total = sum(o["ms_per_step"] for o in ops)
        top = sorted(ops, key=lambda o: -o["ms_per_step"])[:6]
        print(f"GPU time per step, {case} {prec}: {total:.2f} ms busy; " + ", ".join(
            f"{o['op']} {o['ms_per_step']:.2f} ({100 * o['ms_per_step'] / max(total, 1e-12):.0f}%)" for o in top))
    bad = [r for r in rows if r.get("kind") == "train_parity" and not r.get("ok", True)]
    for r in bad:
        print(f"FAILED train parity: {r['mode']} {r['model']} {r['precision']} vs {r['against']}: "
              f"{r['max_rel']:.2e} > {r['tol']:.0e} ({r['worst']})")


if __name__ == "__main__":
    main()
