#!/usr/bin/env python3
"""Sanity checks of testdata/reference/ with plain python3 (json + struct; no torch, no numpy).

  python3 tools/reference/verify_fixtures.py [--dir testdata/reference]

Checks that every file the Go tests rely on is there, that safetensors headers are well formed
and tensors have the documented names, dtypes and shapes, that F32 values are finite, that
token ids are inside the vocabularies, that LoRA gradients are named like the adapter's keys,
and that the folder stays under 4 MB. Prints one line per problem; exits 1 if there is any.
"""

import argparse
import json
import math
import os
import struct
import sys

MAX_BYTES = 4 * 1024 * 1024
HIDDEN = 32
PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)
    print("PROBLEM:", msg)


def read_st(path):
    """(header, data bytes) of a safetensors file; checks offsets and sizes."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    size = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}
    end = 0
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        count = 1
        for d in v["shape"]:
            count *= d
        if v["dtype"] not in size:
            problem(f"{path}: {k} has dtype {v['dtype']}")
            continue
        if b - a != count * size[v["dtype"]]:
            problem(f"{path}: {k} spans {b - a} bytes, shape {v['shape']} needs {count * size[v['dtype']]}")
        end = max(end, b)
    if end != len(data):
        problem(f"{path}: data is {len(data)} bytes, tensors end at {end}")
    return header, data


def values(header, data, key):
    v = header[key]
    a, b = v["data_offsets"]
    fmt = {"F32": "f", "I64": "q"}[v["dtype"]]
    return struct.unpack("<%d%s" % ((b - a) // struct.calcsize(fmt), fmt), data[a:b])


def expect(header, key, dtype, shape, path):
    if key not in header:
        problem(f"{path}: missing tensor {key}")
        return False
    h = header[key]
    if h["dtype"] != dtype or h["shape"] != shape:
        problem(f"{path}: {key} is {h['dtype']} {h['shape']}, want {dtype} {shape}")
        return False
    return True


def check_finite(header, data, path):
    for k, v in header.items():
        if k != "__metadata__" and v["dtype"] == "F32":
            bad = [x for x in values(header, data, k) if not math.isfinite(x)]
            if bad:
                problem(f"{path}: {k} has {len(bad)} non-finite values")


def check_inputs(header, data, path, vocab):
    """input_ids/token_type_ids/attention_mask: I64 [B,T]; masks are 1...1 0...0; ids < vocab."""
    if "input_ids" not in header:
        problem(f"{path}: no input_ids")
        return None
    b, t = header["input_ids"]["shape"]
    for k in ("input_ids", "token_type_ids", "attention_mask"):
        expect(header, k, "I64", [b, t], path)
    ids = values(header, data, "input_ids")
    mask = values(header, data, "attention_mask")
    if max(ids) >= vocab or min(ids) < 0:
        problem(f"{path}: input_ids outside [0,{vocab})")
    for r in range(b):
        row = mask[r * t:(r + 1) * t]
        n = sum(row)
        if list(row) != [1] * n + [0] * (t - n):
            problem(f"{path}: attention_mask row {r} is not 1s then 0s")
    if max(sum(mask[r * t:(r + 1) * t]) for r in range(b)) != t:
        problem(f"{path}: no row fills T={t} (padding='longest')")
    return b, t


def check_cases(root):
    path = os.path.join(root, "tokenizers", "cases.json")
    doc = json.load(open(path, encoding="utf-8"))
    ml = doc["max_length"]
    names = ["wordpiece-uncased", "wordpiece-cased", "bpe", "bert-base-uncased"]
    for name in names:
        c = doc["tokenizers"].get(name)
        if c is None:
            problem(f"cases.json: no tokenizer {name}")
            continue
        if name != "bert-base-uncased":
            d = os.path.join(root, "tokenizers", name)
            need = ["tokenizer.json", "tokenizer_config.json"]
            need += ["vocab.json", "merges.txt"] if name == "bpe" else ["vocab.txt"]
            for f in need:
                if not os.path.isfile(os.path.join(d, f)):
                    problem(f"{d}: missing {f}")
            vocab = len(json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"])
        else:
            vocab = 30522
        if len(c["single"]) != len(doc["texts"]) or len(c["single_trunc"]) != len(doc["texts"]):
            problem(f"cases.json {name}: single cases do not match texts")
        if len(c["pair_trunc"]) != len(doc["pairs"]):
            problem(f"cases.json {name}: pair cases do not match pairs")
        for kind in ("single", "single_trunc", "pair_trunc"):
            for i, e in enumerate(c[kind]):
                n = len(e["input_ids"])
                if len(e["token_type_ids"]) != n or e["attention_mask"] != [1] * n:
                    problem(f"cases.json {name} {kind}[{i}]: lengths or mask wrong")
                if kind != "single" and n > ml:
                    problem(f"cases.json {name} {kind}[{i}]: {n} tokens > max_length {ml}")
                if any(x < 0 or x >= vocab for x in e["input_ids"]):
                    problem(f"cases.json {name} {kind}[{i}]: id outside vocab {vocab}")
        for i, e in enumerate(c["single"]):
            if len(e["tokens"]) != len(e["input_ids"]):
                problem(f"cases.json {name} single[{i}]: tokens and ids differ in length")
        bp = c["batch_padded"]
        rows = bp["input_ids"]
        width = max(len(r) for r in rows)
        if len(rows) != len(doc["texts"]) or any(len(r) != width for r in rows) or width > ml:
            problem(f"cases.json {name}: batch_padded is not {len(doc['texts'])} rows of one width <= {ml}")
        for r, (full, trunc) in enumerate(zip(bp["attention_mask"], c["single_trunc"])):
            n = len(trunc["input_ids"])
            if full != [1] * n + [0] * (width - n) or rows[r][:n] != trunc["input_ids"]:
                problem(f"cases.json {name}: batch_padded row {r} disagrees with single_trunc")
        if c["raw_tokenizer_json_mismatches"]:
            problem(f"cases.json {name}: tokenizer.json alone disagrees with transformers")
    print(f"cases.json: {len(doc['texts'])} texts, {len(doc['pairs'])} pairs, {len(names)} tokenizers")


def model_vocab(d):
    return json.load(open(os.path.join(d, "config.json")))["vocab_size"]


def weight_headers(d):
    """All tensor headers of a model folder (single file or shards through the index)."""
    idx = os.path.join(d, "model.safetensors.index.json")
    out = {}
    if os.path.isfile(idx):
        wm = json.load(open(idx))["weight_map"]
        for f in sorted(set(wm.values())):
            h, _ = read_st(os.path.join(d, f))
            for k in h:
                if k != "__metadata__":
                    if wm.get(k) != f:
                        problem(f"{d}: index says {k} is in {wm.get(k)}, found in {f}")
                    out[k] = h[k]
        if set(wm) != set(out):
            problem(f"{d}: index and shards list different tensors")
    else:
        h, _ = read_st(os.path.join(d, "model.safetensors"))
        out = {k: v for k, v in h.items() if k != "__metadata__"}
    return out


def check_model(root, name, dtype, prefix, pooler, mlm, ln_suffix=("weight", "bias")):
    d = os.path.join(root, "models", name)
    vocab = model_vocab(d)
    w = weight_headers(d)
    dtypes = {v["dtype"] for v in w.values()}
    if dtypes != {dtype}:
        problem(f"{d}: weight dtypes {dtypes}, want {dtype}")
    emb = prefix + "embeddings.word_embeddings.weight"
    if emb not in w or w[emb]["shape"] != [vocab, HIDDEN]:
        problem(f"{d}: {emb} missing or not [{vocab},{HIDDEN}]")
    ln = prefix + "embeddings.LayerNorm." + ln_suffix[0]
    if ln not in w:
        problem(f"{d}: {ln} missing")
    texts = json.load(open(os.path.join(d, "texts.json"), encoding="utf-8"))
    p = os.path.join(d, "expected.safetensors")
    h, data = read_st(p)
    bt = check_inputs(h, data, p, vocab)
    if bt is None:
        return
    b, t = bt
    if b != len(texts["texts"]):
        problem(f"{p}: B={b} but texts.json has {len(texts['texts'])} texts")
    expect(h, "last_hidden_state", "F32", [b, t, HIDDEN], p)
    if pooler:
        expect(h, "pooler_output", "F32", [b, HIDDEN], p)
    elif "pooler_output" in h:
        problem(f"{p}: pooler_output present for a model without pooler")
    if mlm:
        expect(h, "mlm_logits", "F32", [b, t, vocab], p)
    check_finite(h, data, p)
    for f in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        if not os.path.isfile(os.path.join(d, f)):
            problem(f"{d}: missing {f}")
    print(f"models/{name}: {len(w)} tensors {dtype}, expected B={b} T={t} V={vocab}")


def check_lora(root, name):
    d = os.path.join(root, "lora", name)
    vocab = model_vocab(os.path.join(d, "base"))
    ad, _ = read_st(os.path.join(d, "adapter", "adapter_model.safetensors"))
    ad = {k: v for k, v in ad.items() if k != "__metadata__"}
    cfg = json.load(open(os.path.join(d, "adapter", "adapter_config.json")))
    p = os.path.join(d, "expected.safetensors")
    h, data = read_st(p)
    b, t = check_inputs(h, data, p, vocab)
    expect(h, "labels", "I64", [b], p)
    expect(h, "logits", "F32", [b, 3], p)
    expect(h, "loss", "F32", [1], p)
    grads = {k[len("grad."):]: v for k, v in h.items() if k.startswith("grad.")}
    if set(grads) != set(ad):
        problem(f"{p}: grad names {sorted(set(grads) ^ set(ad))} do not match the adapter keys")
    for k in set(grads) & set(ad):
        if grads[k]["shape"] != ad[k]["shape"]:
            problem(f"{p}: grad.{k} shape {grads[k]['shape']} != adapter {ad[k]['shape']}")
    check_finite(h, data, p)
    # Logits and loss agree: mean cross-entropy of the stored logits.
    lg = values(h, data, "logits")
    lb = values(h, data, "labels")
    ce = 0.0
    for r in range(b):
        row = lg[r * 3:(r + 1) * 3]
        m = max(row)
        ce += m + math.log(sum(math.exp(x - m) for x in row)) - row[lb[r]]
    loss = values(h, data, "loss")[0]
    if abs(ce / b - loss) > 1e-5:
        problem(f"{p}: loss {loss} != cross-entropy of logits {ce / b}")
    ranks = {k: v["shape"][0] for k, v in ad.items() if ".lora_A." in k}
    print(f"lora/{name}: {len(ad)} adapter tensors, r={cfg['r']} alpha={cfg['lora_alpha']}, "
          f"ranks {sorted(set(ranks.values()))}, loss {loss:.6f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="testdata/reference")
    root = ap.parse_args().dir
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(root) for f in fs)
    print(f"{root}: {total} bytes")
    if total > MAX_BYTES:
        problem(f"{root} is {total} bytes, over {MAX_BYTES}")
    steps = [
        (check_cases, (root,)),
        (check_model, (root, "bert-pretraining", "F32", "bert.", True, True)),
        (check_model, (root, "bert-legacy", "F16", "", True, False, ("gamma", "beta"))),
        (check_model, (root, "bert-sharded-bf16", "BF16", "", True, False)),
        (check_model, (root, "roberta-mlm", "F32", "roberta.", False, True)),
        (check_lora, (root, "lora-bert")),
        (check_lora, (root, "lora-roberta")),
    ]
    for fn, args in steps:
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - report and go on
            problem(f"{fn.__name__}{args[1:]}: {e!r}")
    pp = os.path.join(root, "models", "bert-pretraining", "expected_pairs.safetensors")
    try:
        h, data = read_st(pp)
        b, t = check_inputs(h, data, pp, model_vocab(os.path.dirname(pp)))
        tt = values(h, data, "token_type_ids")
        if not any(tt):
            problem(f"{pp}: token_type_ids are all 0")
        expect(h, "last_hidden_state", "F32", [b, t, HIDDEN], pp)
        expect(h, "pooler_output", "F32", [b, HIDDEN], pp)
        expect(h, "seq_relationship_logits", "F32", [b, 2], pp)
    except Exception as e:  # noqa: BLE001
        problem(f"{pp}: {e!r}")
    if PROBLEMS:
        print(f"{len(PROBLEMS)} problem(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
