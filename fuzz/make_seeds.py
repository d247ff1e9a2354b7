#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the project's test
data (tests/data/fixtures, models/demo) plus small variants of it.

The seeds are committed; run this again (from the repository root) after
the test data or a target's input format changes:

    python3 fuzz/make_seeds.py [--shared ../shared/fixtures]

Two-document inputs (adapter_dir, model_config, tokenizer_json) use the form
fuzz/fuzz_support.h's SplitInput reads: a 4-byte little-endian length n,
n bytes of the first document, then the second. generate_request seeds are
encoded with protoc from text protos. --shared adds the reference
tokenizer_config.json files of the chat-template fixtures.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "data", "fixtures")
DEMO = os.path.join(ROOT, "models", "demo")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def two_parts(first, second):
    return struct.pack("<I", len(first)) + first + second


def dumps(value):
    return json.dumps(value, indent=1, ensure_ascii=False).encode()


def safetensors(tensors, metadata=None, extra_fields=None):
    """tensors: list of (name, dtype, shape, raw bytes), laid out in order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        entry = {"dtype": dtype, "shape": shape,
                 "data_offsets": [len(data), len(data) + len(raw)]}
        entry.update(extra_fields or {})
        header[name] = entry
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


class Corpus:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.counts = {}

    def add(self, target, name, data):
        directory = os.path.join(self.out_dir, target)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        self.counts[target] = self.counts.get(target, 0) + 1


def floats(values):
    return struct.pack("<%df" % len(values), *values)


def safetensors_seeds(corpus):
    gqa = os.path.join(FIXTURES, "hf-dev", "llama-gqa", "adapters")
    for adapter in ("qv-r8", "attn-r4-rslora"):
        corpus.add("safetensors", "fixture-" + adapter,
                   read(os.path.join(gqa, adapter, "adapter_model.safetensors")))
    f16 = struct.pack("<4H", 0x3c00, 0x7c00, 0xfc00, 0x7e00)  # 1, inf, -inf, nan
    bf16 = struct.pack("<3H", 0x3f80, 0x7f80, 0x7fc0)
    corpus.add("safetensors", "dtypes", safetensors([
        ("f32", "F32", [2, 2], floats([1.5, -2.0, 0.0, 3.0])),
        ("f16", "F16", [4], f16),
        ("bf16", "BF16", [3], bf16),
    ], metadata={"format": "pt"}))
    corpus.add("safetensors", "scalar-and-empty", safetensors([
        ("empty", "F32", [0, 3], b""),
        ("scalar", "F32", [], floats([42.0])),
    ]))
    corpus.add("safetensors", "unknown-fields", safetensors(
        [("x", "F32", [1], floats([1.0]))], extra_fields={"extra": [1, {"k": None}]}))
    corpus.add("safetensors", "empty-header", struct.pack("<Q", 8) + b"{}      ")


def adapter_config_seeds(corpus):
    configs = []
    for model in ("llama-gqa", "qwen2-bias"):
        adapters = os.path.join(FIXTURES, "hf-dev", model, "adapters")
        for adapter in sorted(os.listdir(adapters)):
            configs.append((model + "-" + adapter, json.loads(
                read(os.path.join(adapters, adapter, "adapter_config.json")))))
    configs.append(("demo-code", json.loads(
        read(os.path.join(DEMO, "adapters", "code", "adapter_config.json")))))
    base = dict(configs[0][1])
    variants = {
        "regex-target": {"target_modules": r".*\.layers\.[01]\.self_attn\.(q|v)_proj"},
        "all-linear": {"target_modules": "all-linear", "exclude_modules": ["o_proj"]},
        "exclude-regex": {"target_modules": ["q_proj", "k_proj"],
                          "exclude_modules": r".*layers\.1\..*"},
        "patterns": {"rank_pattern": {"q_proj": 4, r"layers\.1\.self_attn\.v_proj": 2},
                     "alpha_pattern": {"v_proj": 3.5}},
        "layers": {"layers_to_transform": [1], "layers_pattern": "layers"},
        "rslora": {"use_rslora": True, "lora_alpha": 1e30},
        "unsupported": {"use_dora": True, "bias": "all", "modules_to_save": ["lm_head"]},
    }
    for name, change in variants.items():
        config = dict(base)
        config.update(change)
        configs.append((name, config))
    for name, config in configs:
        corpus.add("adapter_config", name, dumps(config))
    return configs


def adapter_dir_seeds(corpus, configs):
    gqa = os.path.join(FIXTURES, "hf-dev", "llama-gqa", "adapters")
    for adapter in ("qv-r8", "attn-r4-rslora"):
        directory = os.path.join(gqa, adapter)
        corpus.add("adapter_dir", adapter, two_parts(
            read(os.path.join(directory, "adapter_config.json")),
            read(os.path.join(directory, "adapter_model.safetensors"))))
    weights = read(os.path.join(gqa, "qv-r8", "adapter_model.safetensors"))
    for name, config in configs:
        if name in ("patterns", "layers", "regex-target", "rslora"):
            corpus.add("adapter_dir", "qv-r8-" + name, two_parts(dumps(config), weights))


def model_config_seeds(corpus):
    for model in ("llama-gqa", "qwen2-bias"):
        directory = os.path.join(FIXTURES, "hf-dev", model, "model")
        corpus.add("model_config", model, two_parts(
            read(os.path.join(directory, "config.json")),
            read(os.path.join(directory, "generation_config.json"))))
    demo = read(os.path.join(DEMO, "config.json"))
    corpus.add("model_config", "demo", two_parts(
        demo, read(os.path.join(DEMO, "generation_config.json"))))
    base = json.loads(demo)
    variants = {
        "mistral": {"architectures": ["MistralForCausalLM"], "model_type": "mistral",
                    "sliding_window": 64},
        "qwen2": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                  "use_sliding_window": False, "max_window_layers": 4},
        "llama3-rope": {"rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                         "original_max_position_embeddings": 256}},
        "linear-rope": {"rope_scaling": {"type": "linear", "factor": 2.0}},
        "biases": {"attention_bias": True, "mlp_bias": True, "tie_word_embeddings": False},
        "eos-list": {"eos_token_id": [1, 2], "pad_token_id": 3, "head_dim": 64},
        "quantized": {"quantization_config": {"quant_method": "gptq"}},
    }
    for name, change in variants.items():
        config = dict(base)
        config.update(change)
        corpus.add("model_config", name, two_parts(dumps(config), b""))


def pruned_bpe(tokenizer, keep):
    """The tokenizer with its vocabulary cut to ids < keep and the merges
    that stay consistent with it."""
    model = tokenizer["model"]
    vocab = {token: i for token, i in model["vocab"].items() if i < keep}
    merges = []
    for merge in model["merges"]:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(merge)
    pruned = dict(tokenizer)
    pruned["model"] = dict(model, vocab=vocab, merges=merges)
    pruned["added_tokens"] = [t for t in tokenizer.get("added_tokens", [])
                              if t["id"] < keep]
    return pruned


def sentencepiece_style_tokenizer():
    """A Llama-2-style tokenizer.json: Metaspace normalizer steps, byte
    fallback and a decoder Sequence."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for byte in range(256):
        vocab["<0x%02X>" % byte] = len(vocab)
    for piece in ["\u2581", "a", "b", "c", "d", "e", "h", "l", "o", "w", "r",
                  "\u2581h", "\u2581w", "he", "ll", "llo", "\u2581hello", "or"]:
        vocab[piece] = len(vocab)
    merges = ["\u2581 h", "\u2581 w", "h e", "l l", "ll o", "o r"]
    return {
        "version": "1.0",
        "added_tokens": [
            {"id": 0, "content": "<unk>", "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True},
            {"id": 1, "content": "<s>", "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True},
            {"id": 2, "content": "</s>", "single_word": False, "lstrip": True,
             "rstrip": True, "normalized": False, "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1],
                                                      "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def tokenizer_json_seeds(corpus):
    expected = json.loads(read(os.path.join(
        FIXTURES, "tokenizers", "bytelevel-gpt2", "expected.json")))
    texts = [case["text"].encode() for case in expected["cases"][:4]]
    gpt2 = json.loads(read(os.path.join(
        FIXTURES, "tokenizers", "bytelevel-gpt2", "tokenizer.json")))
    demo = json.loads(read(os.path.join(DEMO, "tokenizer.json")))
    small_gpt2 = pruned_bpe(gpt2, 400)
    small_demo = pruned_bpe(demo, 400)
    split = dict(small_gpt2)
    split["normalizer"] = {"type": "NFC"}
    split["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"\s+|[0-9]{1,3}"},
         "behavior": "Isolated", "invert": False},
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
         "use_regex": False}]}
    metaspace = sentencepiece_style_tokenizer()
    metaspace_pre = dict(metaspace, normalizer=None)
    metaspace_pre["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                                      "prepend_scheme": "first", "split": True}
    seeds = {"gpt2": small_gpt2, "demo": small_demo, "split-digits": split,
             "sentencepiece": metaspace, "metaspace": metaspace_pre}
    for i, (name, tokenizer) in enumerate(seeds.items()):
        corpus.add("tokenizer_json", name,
                   two_parts(dumps(tokenizer), texts[i % len(texts)]))


def tokenizer_config_seeds(corpus, shared):
    corpus.add("tokenizer_config", "demo",
               read(os.path.join(DEMO, "tokenizer_config.json")))
    variants = {
        "bos-eos-flags": {"add_bos_token": True, "add_eos_token": True,
                          "bos_token": "<s>", "eos_token": "</s>"},
        "added-token-objects": {
            "add_bos_token": False,
            "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False,
                          "normalized": False, "rstrip": False, "single_word": False},
            "eos_token": {"content": "</s>"}},
        "nulls": {"add_bos_token": None, "bos_token": None, "eos_token": None},
    }
    for name, config in variants.items():
        corpus.add("tokenizer_config", name, dumps(config))
    if shared:
        templates = os.path.join(shared, "chat-templates")
        for model in sorted(os.listdir(templates)):
            path = os.path.join(templates, model, "tokenizer_config.json")
            if os.path.exists(path):
                corpus.add("tokenizer_config", model, read(path))


GENERATE_REQUESTS = {
    "text-greedy": 'text: "Hello world"',
    "ids-sampled": '''adapter: "alice/code"
token_ids { ids: [1, 2, 3, 4095] }
sampling { temperature: 0.7 top_k: 40 top_p: 0.9 seed: 7 }
stopping { max_new_tokens: 32 stop_strings: ["\\n\\n", "END"]
           stop_token_ids: [2] ignore_eos: true }
return_logprobs: true''',
    "own-adapter": '''adapter: "fortunes"
text: "Tell me"
stopping { max_new_tokens: 1 }''',
    "bad-fields": '''token_ids { ids: [-1, 5000] }
sampling { temperature: -1 top_k: -3 top_p: 0 }
stopping { max_new_tokens: 0 stop_strings: [""] }''',
}


def generate_request_seeds(corpus):
    proto_dir = os.path.join(ROOT, "proto")
    for name, text in GENERATE_REQUESTS.items():
        encoded = subprocess.run(
            ["protoc", "--proto_path=" + proto_dir, "--proto_path=/usr/include",
             "--encode=loraplex.v1.GenerateRequest", "loraplex/v1/generation.proto"],
            input=text.encode(), stdout=subprocess.PIPE, check=True).stdout
        corpus.add("generate_request", name, encoded)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "fuzz", "corpus"))
    parser.add_argument("--shared", default=None,
                        help="the shared reference fixtures (chat templates)")
    args = parser.parse_args()
    for target in os.listdir(args.out) if os.path.isdir(args.out) else []:
        shutil.rmtree(os.path.join(args.out, target))
    corpus = Corpus(args.out)
    safetensors_seeds(corpus)
    configs = adapter_config_seeds(corpus)
    adapter_dir_seeds(corpus, configs)
    model_config_seeds(corpus)
    tokenizer_json_seeds(corpus)
    tokenizer_config_seeds(corpus, args.shared)
    generate_request_seeds(corpus)
    for target, count in sorted(corpus.counts.items()):
        print("%-18s %d seeds" % (target, count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
