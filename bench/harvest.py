"""Harvest speed and memory, measured side by side in one process (never a timed test).

Prints harvest tokens/s (forward stopped after `layer`, capture, masking) against a plain full
forward `model(**batch)` on the same batches, interleaved so machine noise hits both alike;
then peak resident memory of a complete harvest of N and of 10*N examples, each in a fresh
child process. Ends with one JSON line.

  python bench/harvest.py                      # the embedded TinySQL model
  python bench/harvest.py --qwen-size          # random weights of Qwen2.5-0.5B's size (24 x 896)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import torch
from bench_common import synchronize


def embedded(cache: str):
    from causalgear.models.loading import load_model
    from causalgear.preflight import compose

    cfg = compose([f"paths.cache_dir={cache}"] if cache else [])
    model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
    return cfg, model, tokenizer


def qwen_size(cache: str):
    """Qwen2.5-0.5B's architecture (24 layers, d 896, 14 heads, 2 KV heads, vocab 151936), random
    weights, with the embedded model's tokenizer (ids stay below its vocabulary)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg, _, tokenizer = embedded(cache)
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True,
                         max_position_embeddings=2048)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval().requires_grad_(False)
    return cfg, model, tokenizer


def batches(cfg, tokenizer, n_examples: int, batch_size: int, device: str = "cpu"):
    from causalgear.data.loading import load_split

    examples = load_split(cfg, "train")[:n_examples]
    texts = [e.prompt + e.sql for e in examples]
    for i in range(0, len(texts), batch_size):
        yield tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True, padding_side="right").to(device)


def throughput(model, tokenizer, cfg, layer: int, n_examples: int, batch_size: int, repeats: int,
               device: str = "cpu") -> dict:
    from causalgear.models.site import Site, position_ids

    data = list(batches(cfg, tokenizer, n_examples, batch_size, device))
    tokens = sum(int(b["attention_mask"].sum()) for b in data)
    times = {"harvest": 0.0, "forward": 0.0}

    def timed(name: str, fn) -> None:
        synchronize(device)
        t = time.perf_counter()
        fn()
        synchronize(device)
        times[name] += time.perf_counter() - t

    site = Site(model, layer)
    with torch.no_grad():
        for b in data[:1]:  # warm-up
            model(**b)
        for _ in range(repeats):
            for b in data:
                timed("harvest", lambda b=b: site.run(b["input_ids"], b["attention_mask"]))
                timed("forward", lambda b=b: model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                                                   position_ids=position_ids(b["attention_mask"])))
    return {"harvest_tokens_per_s": tokens * repeats / times["harvest"],
            "forward_tokens_per_s": tokens * repeats / times["forward"], "tokens": tokens}


def rss_child(n_examples: int, model_dir: str, layer: int) -> None:
    """Harvest n examples into a fresh store in a private cache; print peak RSS in MB."""
    from causalgear.harvest.run import ensure_store
    from causalgear.preflight import compose

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(["model=hf", f"model.name_or_path={model_dir}", f"model.layer={layer}",
                       f"paths.cache_dir={tmp}", f"harvest.max_examples={n_examples}", "harvest.shard_tokens=16384"])
        ensure_store(cfg, progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--qwen-size", action="store_true")
    p.add_argument("--n", type=int, default=400, help="examples for the memory comparison (and 10x that)")
    p.add_argument("--examples", type=int, default=256, help="examples for the throughput comparison")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cache", default="")
    p.add_argument("--rss-child", type=int, default=0)
    p.add_argument("--model-dir", default="")
    p.add_argument("--layer", type=int, default=0)
    args = p.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.model_dir, args.layer)
        return
    cfg, model, tokenizer = (qwen_size if args.qwen_size else embedded)(args.cache)
    if args.qwen_size:
        layer, examples, bs, repeats = 18, min(args.examples, 32), 8, 1
    else:
        layer, examples, bs, repeats = cfg.model.layer, args.examples, args.batch_size, args.repeats
    result = {"model": "qwen2.5-0.5b-size-random" if args.qwen_size else cfg.model.name, "layer": layer,
              "n_layers": model.config.num_hidden_layers, "d_model": model.config.hidden_size,
              **throughput(model, tokenizer, cfg, layer, examples, bs, repeats)}
    result["ratio"] = result["harvest_tokens_per_s"] / result["forward_tokens_per_s"]
    print(f"harvest {result['harvest_tokens_per_s']:.0f} tok/s vs full forward "
          f"{result['forward_tokens_per_s']:.0f} tok/s: ratio {result['ratio']:.2f}", file=sys.stderr)
    if not args.qwen_size:
        from causalgear.models.loading import model_source

        model_dir = model_source(cfg.model, cfg.paths.cache_dir)
        rss = {}
        for n in (args.n, 10 * args.n):
            out = subprocess.run([sys.executable, __file__, "--rss-child", str(n), "--model-dir", model_dir,
                                  "--layer", str(layer)],
                                 capture_output=True, text=True, check=True)
            rss[n] = float(out.stdout.strip().splitlines()[-1])
        result.update({"rss_n_mb": rss[args.n], "rss_10n_mb": rss[10 * args.n],
                       "rss_ratio": rss[10 * args.n] / rss[args.n], "n": args.n})
        print(f"peak RSS: {rss[args.n]:.0f} MB for {args.n} examples, {rss[10 * args.n]:.0f} MB for "
              f"{10 * args.n}: ratio {result['rss_ratio']:.2f}", file=sys.stderr)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
