#!/usr/bin/env python3
"""Reference fixtures for adarank's Go tests, computed with PyTorch / Hugging Face.

Two modes:

  --prepare-carry SHARED   (plain python3, no torch) copy the few inputs this script needs from
                           the project's shared/ folder into .carry/ (corpus lines for tokenizer
                           training, the bert-base-uncased tokenizer files).
  (default)                train the tiny tokenizers, build the tiny random models, the PEFT LoRA
                           adapters and their gradients, and write everything under --out
                           (testdata/reference/). Needs torch, transformers, tokenizers, peft,
                           safetensors. Runs on CPU in float32; seeds are fixed.

See tools/reference/README.md for the layout of what is written and the exact commands.
"""

import argparse
import copy
import gzip
import json
import os
import shutil
import struct
import sys
import traceback

# ---------------------------------------------------------------------------------------------
# Inputs shared by every fixture.

MAX_LEN_CASES = 32  # max_length for tokenizers/cases.json
MAX_LEN_MODELS = 48  # max_length for models/*/texts.json and lora/*

LONG_TEXT = (
    "The river wound slowly through the valley, past old farms and quiet villages, "
    "where children played near the water and farmers watched the sky for rain. "
    "In the spring the fields turned green, and in the autumn the harvest filled "
    "every barn with grain. Travellers who crossed the bridge at dusk often stopped "
    "to listen to the bells of the small stone church, which had stood on the hill "
    "for more than four hundred years, long before anyone could remember its name."
)

TEXTS = [
    "Hello, world! This is a simple sentence.",
    "The quick brown fox jumps over the lazy dog.",
    "Crème brûlée à la café",
    "NAÏVE Résumé of Ångström and Ørsted",
    "東京は日本の首都です",
    "I ❤️ NLP 🤖🚀",
    "tab\there\x00null\x07bell",
    "\u200b zero width",
    "supercalifragilisticexpialidocious",
    "abcdefghijklmnopqrstuvwxyz" * 4 + "abcdefghijklmnop",  # 120 letters, one word
    "Wait... what?!? (Really) -- yes: [a], {b}; \"quoted\" 'single' #hash $5.00 @user 100% & more~",
    "The [MASK] sat on the mat.",
    "The <mask> sat on the mat.",
    "Don't stop: it's 3.14159, isn't it? Mixed CASE Words 12345",
    LONG_TEXT,
    "  ",
]

PAIRS = [
    ["How old are you?", "I am six years old."],
    ["The [MASK] is blue.", "Crème brûlée à la café"],
    [LONG_TEXT, "A short second segment."],
    ["A short first segment.", LONG_TEXT],
    ["  ", "Only the second text has words."],
]

# Texts of models/<name>/texts.json (kept short so that mlm_logits [B,T,V] stay small).
MODEL_TEXTS_BERT = [
    "The quick brown fox jumps over the lazy dog.",
    "Crème brûlée à la café, s'il vous plaît!",
    "The [MASK] sat on the mat.",
    "Hi",
]
MODEL_TEXTS_ROBERTA = [
    "The quick brown fox jumps over the lazy dog.",
    "Crème brûlée à la café, s'il vous plaît!",
    "The <mask> sat on the mat.",
    "Hi",
]

LORA_TEXTS = [
    "a great movie with brilliant acting",
    "the plot was dull and far too long",
    "an average film, neither good nor bad",
    "I loved it!",
]
LORA_LABELS = [2, 0, 1, 2]

VOCAB_SIZE = 1500
INIT_RANGE = 0.2  # initializer_range: larger than BERT's 0.02 so attention and heads are not trivial

CORPUS_FILES = [
    ("corpus/wikipedia/AA_wiki_00.txt.gz", 2000),
    ("corpus/gutenberg/Austen_Jane__Emma.txt.gz", 1000),
]

# ---------------------------------------------------------------------------------------------
# Small helpers without torch.


def log(*a):
    print(*a, flush=True)


def write_json(path, obj, compact=False):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def st_header(path):
    """Header of a safetensors file: {name: {dtype, shape, data_offsets}} (+ __metadata__)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n).decode("utf-8"))


def st_keys(path):
    return sorted(k for k in st_header(path) if k != "__metadata__")


def prepare_carry(shared, carry):
    """Copy corpus lines and the bert-base-uncased tokenizer from shared/ into carry/."""
    os.makedirs(carry, exist_ok=True)
    lines = []
    for rel, n in CORPUS_FILES:
        got = 0
        with gzip.open(os.path.join(shared, rel), "rt", encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if len(line) < 40:
                    continue
                lines.append(line)
                got += 1
                if got == n:
                    break
        log(f"corpus: {got} lines from {rel}")
    with open(os.path.join(carry, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    src = os.path.join(shared, "tokenizers", "bert-base-uncased")
    dst = os.path.join(carry, "bert-base-uncased")
    os.makedirs(dst, exist_ok=True)
    for name in ("tokenizer.json", "vocab.txt"):
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    # What the hub's bert-base-uncased tokenizer_config.json says, plus the class name so that
    # AutoTokenizer needs no config.json.
    write_json(
        os.path.join(dst, "tokenizer_config.json"),
        {"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"},
    )
    log(f"wrote {carry}/corpus.txt and {dst}")


# ---------------------------------------------------------------------------------------------
# Everything below needs torch & co; imported lazily in main().

torch = None
F = None


class Report:
    """Collects failures of core outputs (fatal) and warnings (printed, recorded)."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, what):
        log("ERROR:", what)
        self.errors.append(what)

    def warn(self, what):
        log("WARNING:", what)
        self.warnings.append(what)


REPORT = Report()


def st_save(path, tensors, metadata=None):
    """Write a safetensors file (own writer: sorted keys, 8-byte aligned header, atomic)."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header = {}
    blobs = []
    off = 0
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous().cpu()
        if t.dtype not in names:
            raise ValueError(f"{k}: unsupported dtype {t.dtype}")
        if t.dtype == torch.bfloat16:
            b = t.view(torch.int16).numpy().tobytes()
        else:
            b = t.numpy().tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def st_load(path):
    from safetensors.torch import load_file

    return load_file(path)


def max_abs(a, b):
    return float((a.detach().float() - b.detach().float()).abs().max())


def print_keys(path):
    h = st_header(path)
    for k in sorted(h):
        if k == "__metadata__":
            log(f"    __metadata__ {h[k]}")
        else:
            log(f"    {k} {h[k]['dtype']} {h[k]['shape']}")


def model_files(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".safetensors") and f != "expected.safetensors"
                  and f != "expected_pairs.safetensors")


# ---------------------------------------------------------------------------------------------
# Tokenizers.


def tok_classes():
    import transformers

    bert = getattr(transformers, "BertTokenizerFast", None) or transformers.BertTokenizer
    roberta = getattr(transformers, "RobertaTokenizerFast", None) or transformers.RobertaTokenizer
    return bert, roberta


def read_corpus(carry):
    with open(os.path.join(carry, "corpus.txt"), encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def train_wordpiece(lines, lowercase, out_dir):
    from tokenizers import BertWordPieceTokenizer, processors

    strip = None if lowercase else False
    raw = BertWordPieceTokenizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip, lowercase=lowercase
    )
    raw.train_from_iterator(
        lines,
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        limit_alphabet=120,
        initial_alphabet=list("éèêàâçûüöäñÉÅØå"),
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        show_progress=False,
        wordpieces_prefix="##",
    )
    cls_id, sep_id = raw.token_to_id("[CLS]"), raw.token_to_id("[SEP]")
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    bert_cls, _ = tok_classes()
    hf = bert_cls(
        tokenizer_object=raw._tokenizer,
        do_lower_case=lowercase,
        strip_accents=strip,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )
    os.makedirs(out_dir, exist_ok=True)
    hf.save_pretrained(out_dir)
    raw.save_model(out_dir)  # vocab.txt (transformers 5 no longer writes it)
    if not os.path.isfile(os.path.join(out_dir, "vocab.txt")):
        raise RuntimeError(f"{out_dir}: vocab.txt was not written")


def train_bpe(lines, out_dir):
    from tokenizers import AddedToken, ByteLevelBPETokenizer, processors

    raw = ByteLevelBPETokenizer(add_prefix_space=False, lowercase=False, trim_offsets=True)
    # <mask> strips the space on its left, as in roberta-base.
    specials = ["<s>", "<pad>", "</s>", "<unk>",
                AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)]
    raw.train_from_iterator(
        lines, vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=specials, show_progress=False
    )
    ids = [raw.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    if ids != [0, 1, 2, 3, 4]:
        raise RuntimeError(f"bpe special token ids {ids}, want [0,1,2,3,4]")
    raw.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
    )
    _, roberta_cls = tok_classes()
    hf = roberta_cls(
        tokenizer_object=raw._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True),
        add_prefix_space=False,
        trim_offsets=True,
    )
    os.makedirs(out_dir, exist_ok=True)
    hf.save_pretrained(out_dir)
    raw.save_model(out_dir)  # vocab.json + merges.txt
    for f in ("vocab.json", "merges.txt"):
        if not os.path.isfile(os.path.join(out_dir, f)):
            raise RuntimeError(f"{out_dir}: {f} was not written")


def load_tokenizer(d):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(d)
    if not getattr(tok, "is_fast", False):
        raise RuntimeError(f"{d}: AutoTokenizer gave a slow tokenizer {type(tok).__name__}")
    return tok


def enc_lists(e):
    return {
        "input_ids": list(map(int, e["input_ids"])),
        "token_type_ids": list(map(int, e["token_type_ids"])),
        "attention_mask": list(map(int, e["attention_mask"])),
    }


def tokenizer_cases(name, tok, d):
    """The four kinds of cases for one tokenizer, plus a check against the raw tokenizer.json."""
    kw = dict(return_token_type_ids=True, return_attention_mask=True)
    single, single_trunc, pair_trunc = [], [], []
    for t in TEXTS:
        e = tok(t, add_special_tokens=True, **kw)
        c = enc_lists(e)
        c["tokens"] = tok.convert_ids_to_tokens(c["input_ids"])
        single.append(c)
        single_trunc.append(enc_lists(tok(t, truncation=True, max_length=MAX_LEN_CASES, **kw)))
    for a, b in PAIRS:
        pair_trunc.append(
            enc_lists(tok(a, b, truncation="longest_first", max_length=MAX_LEN_CASES, **kw))
        )
    bp = tok(TEXTS, padding="longest", truncation=True, max_length=MAX_LEN_CASES, **kw)
    batch = {k: [list(map(int, r)) for r in bp[k]] for k in ("input_ids", "token_type_ids", "attention_mask")}

    # Does the plain `tokenizers` library, reading only tokenizer.json, give the same ids?
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    raw.no_padding()
    raw.no_truncation()
    mismatches = []
    for i, t in enumerate(TEXTS):
        r = raw.encode(t)
        if r.ids != single[i]["input_ids"] or r.type_ids != single[i]["token_type_ids"]:
            mismatches.append({"case": "single", "index": i, "raw_ids": r.ids})
    raw.enable_truncation(MAX_LEN_CASES)
    for i, (a, b) in enumerate(PAIRS):
        r = raw.encode(a, b)
        if r.ids != pair_trunc[i]["input_ids"] or r.type_ids != pair_trunc[i]["token_type_ids"]:
            mismatches.append({"case": "pair_trunc", "index": i, "raw_ids": r.ids})
    if mismatches:
        REPORT.warn(f"tokenizer {name}: raw tokenizer.json differs from transformers in {len(mismatches)} cases")
    return {
        "single": single,
        "single_trunc": single_trunc,
        "pair_trunc": pair_trunc,
        "batch_padded": batch,
        "class": type(tok).__name__,
        "raw_tokenizer_json_mismatches": mismatches,
    }


def check_specials(name, cases, first, last):
    for i, c in enumerate(cases["single"]):
        ids = c["input_ids"]
        if ids[0] != first or ids[-1] != last:
            raise RuntimeError(f"{name}: text {i} ids {ids[:3]}..{ids[-3:]} lack {first}/{last}")


def make_tokenizers(out, carry):
    lines = read_corpus(carry)
    log(f"tokenizers: training on {len(lines)} corpus lines")
    tdir = os.path.join(out, "tokenizers")
    os.makedirs(tdir, exist_ok=True)
    train_wordpiece(lines, True, os.path.join(tdir, "wordpiece-uncased"))
    train_wordpiece(lines, False, os.path.join(tdir, "wordpiece-cased"))
    train_bpe(lines, os.path.join(tdir, "bpe"))

    # bert-base-uncased is read from a writable copy of the carried files.
    bbu_src = os.path.join(carry, "bert-base-uncased")
    bbu = "/tmp/adarank-bert-base-uncased"
    shutil.rmtree(bbu, ignore_errors=True)
    shutil.copytree(bbu_src, bbu)

    dirs = {
        "wordpiece-uncased": (os.path.join(tdir, "wordpiece-uncased"), "testdata/reference/tokenizers/wordpiece-uncased"),
        "wordpiece-cased": (os.path.join(tdir, "wordpiece-cased"), "testdata/reference/tokenizers/wordpiece-cased"),
        "bpe": (os.path.join(tdir, "bpe"), "testdata/reference/tokenizers/bpe"),
        "bert-base-uncased": (bbu, "../shared/tokenizers/bert-base-uncased"),
    }
    toks = {}
    doc = {"max_length": MAX_LEN_CASES, "texts": TEXTS, "pairs": PAIRS, "tokenizers": {}}
    for name, (d, rel) in dirs.items():
        tok = load_tokenizer(d)
        toks[name] = tok
        cases = tokenizer_cases(name, tok, d)
        first, last = (tok.cls_token_id, tok.sep_token_id)
        check_specials(name, cases, first, last)
        cases = {"dir": rel, **cases}
        doc["tokenizers"][name] = cases
        log(f"  {name}: class {cases['class']}, vocab {len(tok)}, pad {tok.pad_token_id}, "
            f"files {sorted(os.listdir(d))}")
        log(f"    text 2 -> {cases['single'][2]['tokens']}")
    write_json(os.path.join(tdir, "cases.json"), doc, compact=True)
    return toks


# ---------------------------------------------------------------------------------------------
# Models.


def add_noise(model, seed):
    """LayerNorm weights 1+0.1*randn, LayerNorm biases 0.1*randn, other biases 0.05*randn."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            low = name.lower()
            is_ln = "layernorm" in low or "layer_norm" in low
            if is_ln and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif is_ln and name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    try:
        model.tie_weights()
    except Exception as e:  # noqa: BLE001 - optional
        log(f"  tie_weights: {e}")


def save_hf(model, d, **kw):
    os.makedirs(d, exist_ok=True)
    try:
        model.save_pretrained(d, safe_serialization=True, **kw)
    except TypeError:
        model.save_pretrained(d, **kw)
    if not any(f.endswith(".safetensors") for f in os.listdir(d)):
        raise RuntimeError(f"{d}: save_pretrained wrote no .safetensors file: {os.listdir(d)}")


def hf_load(cls, d):
    """from_pretrained in float32, eager attention, printing what was missing/unexpected."""
    errs = []
    info = {}
    for extra in (
        {"dtype": torch.float32, "attn_implementation": "eager", "output_loading_info": True},
        {"torch_dtype": torch.float32, "attn_implementation": "eager", "output_loading_info": True},
        {"torch_dtype": torch.float32, "output_loading_info": True},
        {"torch_dtype": torch.float32},
    ):
        try:
            m = cls.from_pretrained(d, **extra)
            break
        except (TypeError, ValueError) as e:
            errs.append(repr(e))
    else:
        raise RuntimeError(f"from_pretrained({d}) failed: {errs}")
    if isinstance(m, tuple):
        m, info = m
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        v = info.get(k) if isinstance(info, dict) else None
        if v:
            log(f"  load {os.path.basename(d)}: {k}: {sorted(map(str, v))}")
    return m.float().eval()


def copy_tokenizer_files(src, dst):
    for f in sorted(os.listdir(src)):
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))


def encode(tok, texts, pairs=None, max_length=MAX_LEN_MODELS):
    args = (texts,) if pairs is None else (texts, pairs)
    e = tok(*args, padding="longest", truncation=True if pairs is None else "longest_first",
            max_length=max_length, return_token_type_ids=True, return_attention_mask=True,
            return_tensors="pt")
    return {k: e[k].to(torch.int64) for k in ("input_ids", "token_type_ids", "attention_mask")}


def bert_config(tok, layers, act, cls_name):
    from transformers import BertConfig

    c = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, hidden_act=act,
        initializer_range=INIT_RANGE, layer_norm_eps=1e-12, pad_token_id=tok.pad_token_id,
    )
    c.architectures = [cls_name]
    return c


def roberta_config(tok, cls_name, num_labels=None):
    from transformers import RobertaConfig

    kw = {} if num_labels is None else {"num_labels": num_labels}
    c = RobertaConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=66, type_vocab_size=1, hidden_act="gelu",
        initializer_range=INIT_RANGE, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, **kw,
    )
    c.architectures = [cls_name]
    return c


def set_eager(config):
    try:
        config._attn_implementation = "eager"
    except Exception:  # noqa: BLE001 - optional
        pass


def bert_outputs(model, enc, with_heads):
    """last_hidden_state, pooler_output (+ mlm/nsp logits) of a Bert* model."""
    with torch.no_grad():
        base = model.bert if with_heads else model
        o = base(**enc)
        out = {"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output}
        if with_heads:
            h = model(**enc)
            out["mlm_logits"] = h.prediction_logits
            out["seq_relationship_logits"] = h.seq_relationship_logits
    return {k: v.float().contiguous() for k, v in out.items()}


def compare_reload(name, mem, disk):
    worst = max(max_abs(mem[k], disk[k]) for k in mem)
    log(f"  {name}: in-memory vs reloaded-from-disk max abs diff {worst:.3g}")
    if worst > 1e-5:
        REPORT.warn(f"{name}: reloaded model differs from the in-memory one by {worst:.3g}")


def write_model_expected(d, enc, outs, texts, fname="expected.safetensors", write_texts=True):
    t = dict(enc)
    t.update(outs)
    st_save(os.path.join(d, fname), t, {"format": "pt"})
    if write_texts:
        write_json(os.path.join(d, "texts.json"), {"max_length": MAX_LEN_MODELS, "texts": texts})


def make_bert_pretraining(out, toks):
    from transformers import BertForPreTraining

    name = "bert-pretraining"
    d = os.path.join(out, "models", name)
    tok = toks["wordpiece-cased"]
    torch.manual_seed(101)
    cfg = bert_config(tok, 3, "gelu", "BertForPreTraining")
    set_eager(cfg)
    m = BertForPreTraining(cfg).eval()
    add_noise(m, 1101)
    save_hf(m, d)
    copy_tokenizer_files(os.path.join(out, "tokenizers", "wordpiece-cased"), d)
    log(f"  {name} files: {sorted(os.listdir(d))}")
    for f in model_files(d):
        log(f"   keys of {f}:")
        print_keys(os.path.join(d, f))
    enc = encode(tok, MODEL_TEXTS_BERT)
    outs = bert_outputs(m, enc, True)
    r = hf_load(BertForPreTraining, d)
    compare_reload(name, outs, bert_outputs(r, enc, True))
    write_model_expected(d, enc, outs, MODEL_TEXTS_BERT)
    # Sentence pairs (token_type_ids 1 on the second segment); no mlm_logits to keep it small.
    a = [p[0] for p in PAIRS]
    b = [p[1] for p in PAIRS]
    penc = encode(tok, a, b)
    pouts = bert_outputs(m, penc, True)
    del pouts["mlm_logits"]
    write_model_expected(d, penc, pouts, None, "expected_pairs.safetensors", write_texts=False)


def make_bert_legacy(out, toks):
    from transformers import BertModel

    name = "bert-legacy"
    d = os.path.join(out, "models", name)
    os.makedirs(d, exist_ok=True)
    tok = toks["wordpiece-uncased"]
    torch.manual_seed(102)
    cfg = bert_config(tok, 2, "gelu_new", "BertModel")
    set_eager(cfg)
    m = BertModel(cfg).eval()
    add_noise(m, 1102)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.half().float())  # the values the F16 file holds
    sd = {}
    for k, v in m.state_dict().items():
        if not v.is_floating_point():
            continue
        if k.endswith("LayerNorm.weight"):
            k = k[: -len("weight")] + "gamma"
        elif k.endswith("LayerNorm.bias"):
            k = k[: -len("bias")] + "beta"
        sd[k] = v.half()
    st_save(os.path.join(d, "model.safetensors"), sd, {"format": "pt"})
    cfg.save_pretrained(d)
    copy_tokenizer_files(os.path.join(out, "tokenizers", "wordpiece-uncased"), d)
    log(f"  {name} files: {sorted(os.listdir(d))}")
    print_keys(os.path.join(d, "model.safetensors"))
    enc = encode(tok, MODEL_TEXTS_BERT)
    outs = bert_outputs(m, enc, False)
    try:
        r = hf_load(BertModel, d)
        compare_reload(name, outs, bert_outputs(r, enc, False))
    except Exception as e:  # noqa: BLE001 - the fixture stands without this check
        REPORT.warn(f"{name}: transformers could not reload the gamma/beta F16 file: {e!r}")
    write_model_expected(d, enc, outs, MODEL_TEXTS_BERT)


def write_shards_by_hand(m, d, n_shards=3):
    """Fallback if save_pretrained did not shard: BF16 shards + model.safetensors.index.json."""
    for f in os.listdir(d):
        if f.endswith(".safetensors") or f.endswith(".index.json"):
            os.remove(os.path.join(d, f))
    sd = {k: v.to(torch.bfloat16) for k, v in m.state_dict().items() if v.is_floating_point()}
    keys = sorted(sd)
    per = (len(keys) + n_shards - 1) // n_shards
    wm = {}
    total = 0
    for i in range(n_shards):
        fn = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {k: sd[k] for k in keys[i * per:(i + 1) * per]}
        st_save(os.path.join(d, fn), part, {"format": "pt"})
        for k, v in part.items():
            wm[k] = fn
            total += v.numel() * 2
    write_json(os.path.join(d, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": wm})


def make_bert_sharded(out, toks):
    from transformers import BertModel

    name = "bert-sharded-bf16"
    d = os.path.join(out, "models", name)
    tok = toks["wordpiece-uncased"]
    torch.manual_seed(103)
    cfg = bert_config(tok, 2, "gelu", "BertModel")
    set_eager(cfg)
    m = BertModel(cfg).eval()
    add_noise(m, 1103)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(torch.bfloat16).float())  # the values the BF16 files hold
    mb = copy.deepcopy(m).to(torch.bfloat16)
    try:
        save_hf(mb, d, max_shard_size="40KB")
    except Exception as e:  # noqa: BLE001 - fall back to writing the shards by hand
        REPORT.warn(f"{name}: save_pretrained(max_shard_size=...) failed: {e!r}")
        os.makedirs(d, exist_ok=True)
        cfg.save_pretrained(d)
    if not os.path.isfile(os.path.join(d, "model.safetensors.index.json")):
        REPORT.warn(f"{name}: save_pretrained did not shard; writing shards by hand")
        write_shards_by_hand(m, d)
    copy_tokenizer_files(os.path.join(out, "tokenizers", "wordpiece-uncased"), d)
    log(f"  {name} files: {sorted(os.listdir(d))}")
    for f in model_files(d):
        log(f"   keys of {f}:")
        print_keys(os.path.join(d, f))
    enc = encode(tok, MODEL_TEXTS_BERT)
    outs = bert_outputs(m, enc, False)
    r = hf_load(BertModel, d)
    compare_reload(name, outs, bert_outputs(r, enc, False))
    write_model_expected(d, enc, outs, MODEL_TEXTS_BERT)


def make_roberta_mlm(out, toks):
    from transformers import RobertaForMaskedLM

    name = "roberta-mlm"
    d = os.path.join(out, "models", name)
    tok = toks["bpe"]
    torch.manual_seed(104)
    cfg = roberta_config(tok, "RobertaForMaskedLM")
    set_eager(cfg)
    m = RobertaForMaskedLM(cfg).eval()
    add_noise(m, 1104)
    save_hf(m, d)
    copy_tokenizer_files(os.path.join(out, "tokenizers", "bpe"), d)
    log(f"  {name} files: {sorted(os.listdir(d))}")
    for f in model_files(d):
        log(f"   keys of {f}:")
        print_keys(os.path.join(d, f))
    enc = encode(tok, MODEL_TEXTS_ROBERTA)

    def outputs(model):
        with torch.no_grad():
            o = model.roberta(**enc)
            lg = model(**enc).logits
        return {"last_hidden_state": o.last_hidden_state.float().contiguous(),
                "mlm_logits": lg.float().contiguous()}

    outs = outputs(m)
    r = hf_load(RobertaForMaskedLM, d)
    compare_reload(name, outs, outputs(r))
    write_model_expected(d, enc, outs, MODEL_TEXTS_ROBERTA)


# ---------------------------------------------------------------------------------------------
# LoRA (PEFT).


def saved_name(param_name):
    """PEFT's adapter file name of a trainable parameter (drops modules_to_save / adapter name)."""
    return param_name.replace("modules_to_save.default.", "").replace(".default", "")


def make_lora(out, toks, name, kind, target_modules, rank_pattern, alpha_pattern, seed):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import (AutoModelForSequenceClassification, BertForSequenceClassification,
                              RobertaForSequenceClassification)

    root = os.path.join(out, "lora", name)
    base_dir = os.path.join(root, "base")
    ad_dir = os.path.join(root, "adapter")
    if kind == "bert":
        tok, tname = toks["wordpiece-uncased"], "wordpiece-uncased"
        torch.manual_seed(seed)
        cfg = bert_config(tok, 2, "gelu", "BertForSequenceClassification")
        cfg.num_labels = 3
        set_eager(cfg)
        base = BertForSequenceClassification(cfg).eval()
    else:
        tok, tname = toks["bpe"], "bpe"
        torch.manual_seed(seed)
        cfg = roberta_config(tok, "RobertaForSequenceClassification", num_labels=3)
        set_eager(cfg)
        base = RobertaForSequenceClassification(cfg).eval()
    add_noise(base, seed + 1000)
    save_hf(base, base_dir)
    copy_tokenizer_files(os.path.join(out, "tokenizers", tname), base_dir)
    log(f"  {name}/base files: {sorted(os.listdir(base_dir))}")

    lcfg = LoraConfig(
        task_type="SEQ_CLS", r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
        target_modules=target_modules, rank_pattern=rank_pattern, alpha_pattern=alpha_pattern,
    )
    pm = get_peft_model(copy.deepcopy(base), lcfg)
    g = torch.Generator().manual_seed(seed + 2000)
    trainable = []
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if not p.requires_grad:
                continue
            trainable.append(n)
            scale = 0.1 if ("lora_A" in n or "lora_B" in n) else 0.2
            p.copy_(scale * torch.randn(p.shape, generator=g))
    pm.eval()
    ranks = {}
    for mn, mod in pm.named_modules():
        if hasattr(mod, "lora_A") and hasattr(mod, "r") and isinstance(getattr(mod, "r"), dict) and "default" in mod.r:
            ranks[mn] = {"r": int(mod.r["default"]), "scaling": float(mod.scaling["default"])}
    log(f"  {name}: LoRA modules (r, scaling):")
    for mn in sorted(ranks):
        log(f"    {mn}: {ranks[mn]}")
    pm.save_pretrained(ad_dir)
    log(f"  {name}/adapter files: {sorted(os.listdir(ad_dir))}")
    ad_file = os.path.join(ad_dir, "adapter_model.safetensors")
    if not os.path.isfile(ad_file):
        raise RuntimeError(f"{ad_dir}: no adapter_model.safetensors")
    log(f"   keys of adapter_model.safetensors:")
    print_keys(ad_file)
    saved = st_load(ad_file)

    # Forward + backward in eval mode (no dropout).
    enc = encode(tok, LORA_TEXTS)
    labels = torch.tensor(LORA_LABELS, dtype=torch.int64)
    pm.zero_grad(set_to_none=True)
    logits = pm(**enc).logits
    loss = F.cross_entropy(logits.float(), labels)
    loss.backward()
    params = dict(pm.named_parameters())
    grads = {}
    for n in trainable:
        if params[n].grad is None:
            raise RuntimeError(f"{name}: no gradient for {n}")
        grads[n] = params[n].grad.detach().clone()

    # Name each gradient as PEFT names its parameter in adapter_model.safetensors: found by value
    # (all trainable values are random, hence distinct), checked against the simple naming rule.
    mapping = {}
    for n in trainable:
        pv = params[n].detach().float()
        hits = [sk for sk, sv in saved.items() if sv.shape == pv.shape and torch.equal(sv.float(), pv)]
        if len(hits) != 1:
            raise RuntimeError(f"{name}: trainable {n} matches saved keys {hits}")
        mapping[n] = hits[0]
        if hits[0] != saved_name(n):
            REPORT.warn(f"{name}: {n} is saved as {hits[0]}, not {saved_name(n)}")
    missing = sorted(set(saved) - set(mapping.values()))
    if missing:
        raise RuntimeError(f"{name}: saved adapter keys without a trainable parameter: {missing}")

    t = dict(enc)
    t["labels"] = labels
    t["logits"] = logits.detach().float().contiguous()
    t["loss"] = loss.detach().float().reshape(1)
    for n, gr in grads.items():
        t["grad." + mapping[n]] = gr.float().contiguous()
    st_save(os.path.join(root, "expected.safetensors"), t, {"format": "pt"})
    log(f"  {name}: loss {float(loss.detach()):.6f}, logits {logits.detach().tolist()}")

    # Check: base from disk + adapter from disk through PEFT gives the same logits; and merged.
    try:
        b2 = hf_load(AutoModelForSequenceClassification, base_dir)
        p2 = PeftModel.from_pretrained(b2, ad_dir).eval()
        with torch.no_grad():
            l2 = p2(**enc).logits
        diff = max_abs(l2, logits)
        log(f"  {name}: PeftModel.from_pretrained logits max abs diff {diff:.3g}")
        if diff > 1e-5:
            REPORT.error(f"{name}: reloaded base+adapter logits differ by {diff:.3g}")
        merged = p2.merge_and_unload().eval()
        with torch.no_grad():
            l3 = merged(**enc).logits
        log(f"  {name}: merge_and_unload logits max abs diff {max_abs(l3, logits):.3g}")
    except Exception as e:  # noqa: BLE001
        REPORT.warn(f"{name}: reload check failed: {e!r}")
    return {"ranks": ranks, "adapter_keys": sorted(saved), "trainable": sorted(trainable)}


# ---------------------------------------------------------------------------------------------


def versions():
    v = {"python": sys.version.split()[0]}
    for mod in ("torch", "transformers", "tokenizers", "peft", "safetensors", "numpy"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001
            v[mod] = f"unavailable: {e!r}"
    return v


def run_section(name, fn, *args):
    log(f"== {name}")
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - report and go on; the run fails at the end
        REPORT.error(f"{name} failed:\n{traceback.format_exc()}")
        return None


def summary(out):
    total = 0
    rows = []
    for dp, _, fs in os.walk(out):
        for f in sorted(fs):
            p = os.path.join(dp, f)
            s = os.path.getsize(p)
            total += s
            rows.append((os.path.relpath(p, out), s))
    for r, s in sorted(rows):
        log(f"  {s:>9}  {r}")
    log(f"  total {total} bytes in {len(rows)} files")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="testdata/reference", help="output folder (emptied first)")
    ap.add_argument("--carry", default=".carry", help="folder with corpus.txt and bert-base-uncased/")
    ap.add_argument("--prepare-carry", metavar="SHARED", help="only copy inputs from SHARED into --carry")
    args = ap.parse_args()
    if args.prepare_carry:
        prepare_carry(args.prepare_carry, args.carry)
        return 0

    global torch, F
    import torch as _torch
    import torch.nn.functional as _F

    torch, F = _torch, _F
    v = versions()
    for k, val in v.items():
        log(f"{k} {val}")
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(min(8, os.cpu_count() or 1))

    out = args.out
    if os.path.basename(os.path.normpath(out)) != "reference":
        log(f"refusing to empty {out}: its name is not 'reference'")
        return 2
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    toks = run_section("tokenizers", make_tokenizers, out, args.carry)
    if toks is None:
        log("tokenizers failed; nothing else can be built")
        return 1
    run_section("models/bert-pretraining", make_bert_pretraining, out, toks)
    run_section("models/bert-legacy", make_bert_legacy, out, toks)
    run_section("models/bert-sharded-bf16", make_bert_sharded, out, toks)
    run_section("models/roberta-mlm", make_roberta_mlm, out, toks)
    lora = {}
    lora["lora-bert"] = run_section(
        "lora/lora-bert", make_lora, out, toks, "lora-bert", "bert", ["query", "key", "value"],
        {"layer.0.attention.self.query": 2, "layer.1.attention.self.value": 6},
        {"layer.1.attention.self.key": 16}, 201,
    )
    lora["lora-roberta"] = run_section(
        "lora/lora-roberta", make_lora, out, toks, "lora-roberta", "roberta",
        ["query", "value", "attention.output.dense", "intermediate.dense"],
        {"layer.0.intermediate.dense": 8, "layer.1.attention.self.value": 2},
        {"layer.0.attention.output.dense": 4}, 202,
    )
    write_json(os.path.join(out, "manifest.json"), {
        "generator": "tools/reference/make_fixtures.py",
        "versions": v,
        "lora": lora,
        "warnings": REPORT.warnings,
        "errors": REPORT.errors,
    })
    log("== files")
    summary(out)
    if REPORT.warnings:
        log(f"{len(REPORT.warnings)} warning(s):")
        for w in REPORT.warnings:
            log("  " + w)
    if REPORT.errors:
        log(f"{len(REPORT.errors)} error(s); fixtures are incomplete")
        return 1
    log("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
