"""The GPU check in one command: Qwen2.5-0.5B's shape at bf16, harvest, SAE training and serving.

A random-weight model with Qwen2.5-0.5B's configuration (hidden 896, 24 layers, 14 heads, 2 KV
heads, intermediate 4864, vocabulary 151936) and a tokenizer trained on TinySQL, saved to a
temporary directory and loaded through the project's own loader. Measured side by side in one
process, each pair on the same data:
  - harvest: tokens/s of the forward stopped after layer 18 against the full forward, and the
    tokens/s of the real harvest into an activation store;
  - SAE training at d_in 896, d_sae 16384 (relu; topk with k 64): rows/s through our Lightning
    trainer against a bare PyTorch loop doing the same steps, and SAELens' trainer where it is
    installed (null otherwise);
  - the service: p50 latency of POST /generate with a feature patched (clamp) against unsteered,
    through the real app (in process, no socket), with the relu SAE trained above.
Ends with one JSON line. `--tiny` runs the same code at a tiny shape on any device (the test
suite runs it on a CPU). bench/device.sh is the command to run on a GPU machine.

  python bench/device.py            # the GPU shape; cuda when there is one
  python bench/device.py --tiny     # seconds, anywhere
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

SHAPES = {
    "qwen2.5-0.5b": {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
                     "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936, "layer": 18,
                     "d_sae": 16384, "k": 64, "examples": 2000, "batch": 32, "sae_batch": 4096, "requests": 40,
                     "new_tokens": 32},
    "tiny": {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128, "vocab_size": 512, "layer": 2, "d_sae": 256, "k": 8, "examples": 60,
             "batch": 16, "sae_batch": 256, "requests": 6, "new_tokens": 8},
}


def bench_script(name: str):
    """Another bench script's functions (bench/NAME.py), which this one shares."""
    spec = importlib.util.spec_from_file_location(f"{name}_bench", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_model(shape: dict, dtype: str, path: Path, cache: Path) -> list[str]:
    """A random Qwen2 of `shape` and a TinySQL tokenizer saved at `path`; the overrides that use it."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from causalgear.data.loading import load_split
    from causalgear.models.tokenizer import train_tokenizer
    from causalgear.preflight import compose

    data = ["data.n_train_per_set=" + str(max(shape["examples"] // 4, 20)), "data.n_schemas=40",
            "data.n_validation_per_set=5", "data.n_test_per_set=10", "data.n_test_ood_per_set=5"]
    texts = [e.prompt + e.sql for e in load_split(compose([f"paths.cache_dir={cache}", *data]), "train")]
    tokenizer = train_tokenizer(texts, vocab_size=min(shape["vocab_size"], 2048))
    config = Qwen2Config(**{k: shape[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                  "num_key_value_heads", "intermediate_size", "vocab_size")},
                         tie_word_embeddings=True, max_position_embeddings=2048,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).to(getattr(torch, dtype)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return ["model=hf", f"model.name_or_path={path}", f"model.layer={shape['layer']}", f"model.dtype={dtype}",
            f"paths.cache_dir={cache}", f"harvest.max_examples={shape['examples']}", "harvest.batch_size=16",
            "logger=none", *data]


def harvest_vs_forward(model, tokenizer, cfg, layer: int, batch: int, device: str) -> dict:
    """bench/harvest.py's interleaved comparison, on this device."""
    r = bench_script("harvest").throughput(model, tokenizer, cfg, layer, 8 * batch, batch, 1, device)
    return {"harvest_tokens_per_s": r["harvest_tokens_per_s"], "forward_tokens_per_s": r["forward_tokens_per_s"],
            "harvest_vs_forward": r["harvest_tokens_per_s"] / r["forward_tokens_per_s"]}


def sae_training(cfg, store, shape: dict, device: str) -> tuple[dict, object]:
    """Rows/s of each arch through Lightning, a bare loop and SAELens; also the relu SAE the bare loop trained."""
    from omegaconf import OmegaConf

    from causalgear.harvest.store import ShuffledBatches
    from causalgear.sae import registry
    from causalgear.sae.module import is_train

    bench = bench_script("sae_train")
    out, trained = {}, None
    for arch in ("relu", "topk"):
        arch_cfg = OmegaConf.merge(cfg, {"sae": {"arch": arch, "d_sae": shape["d_sae"],
                                                 "k": shape["k"] if arch == "topk" else None,
                                                 "batch_size": shape["sae_batch"]}})
        batches = list(ShuffledBatches(store, shape["sae_batch"], seed=0, select=is_train))
        bench.bare_loop(registry.build(arch_cfg.sae, store.d_in), batches[:2], arch_cfg.sae, device)  # warm-up
        torch.manual_seed(0)
        light = bench.lightning_loop(registry.build(arch_cfg.sae, store.d_in), store, arch_cfg, 1, device)
        sae = registry.build(arch_cfg.sae, store.d_in)
        bare = bench.bare_loop(sae, batches, arch_cfg.sae, device)
        out.update({f"{arch}_lightning_rows_per_s": light, f"{arch}_bare_rows_per_s": bare,
                    f"{arch}_lightning_vs_bare": light / bare})
        if arch == "relu":
            trained = sae
            theirs = bench.saelens_loop(store.d_in, shape["d_sae"], batches, arch_cfg.sae.l1_coeff,
                                        arch_cfg.sae.lr, device)
            out["relu_saelens_rows_per_s"] = theirs
            out["relu_ours_vs_saelens"] = light / theirs if theirs else None
    return out, trained


def serving(overrides: list[str], sae, store, shape: dict, out_dir: Path, device: str) -> dict:
    """p50 of POST /generate, steered (clamp on the most frequent code) and unsteered, in one app."""
    import httpx

    from causalgear.data.loading import load_split
    from causalgear.preflight import compose
    from causalgear.sae.code_stats import coordinate_stats
    from causalgear.sae.io import save_sae
    from causalgear.serve.app import create_app
    from causalgear.serve.engine import Engine

    sae = sae.cpu().eval()
    sae.fold_scale(float(store.scale))
    save_sae(sae, out_dir / "sae", layer=shape["layer"], site="resid", model_name="bench")
    feature = int(coordinate_stats(sae, store)["firing_rate"].argmax())
    cfg = compose([*overrides, f"sae.path={out_dir}", f"serve.max_new_tokens={shape['new_tokens']}",
                   f"model.device={device}"])
    app = create_app(Engine(cfg, out_dir), cfg.serve)
    prompts = [e.prompt for e in load_split(cfg, "test")][: shape["requests"]]

    async def p50(mode: str) -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765", timeout=600) as client:
            times = []
            for prompt in prompts:
                t = time.perf_counter()
                r = await client.post("/generate", json={"prompt": prompt, "mode": mode, "feature": feature,
                                                         "scale": 2.0})
                times.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"/generate answered {r.status_code}: {r.text}")
            return 1000 * statistics.median(times)

    asyncio.run(p50("none"))  # warm-up
    plain, steered = asyncio.run(p50("none")), asyncio.run(p50("clamp"))
    return {"serve_p50_ms_unsteered": plain, "serve_p50_ms_patched": steered, "serve_p50_ratio": steered / plain,
            "serve_feature": feature}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="a tiny shape: the same measurements in seconds")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = p.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    name = "tiny" if args.tiny else "qwen2.5-0.5b"
    shape = SHAPES[name]
    dtype = "bfloat16" if device == "cuda" else "float32"  # CPU bf16 only pays off at larger widths
    start = time.perf_counter()
    from causalgear.harvest.run import ensure_store
    from causalgear.logs import quiet_libraries
    from causalgear.models.loading import load_model
    from causalgear.preflight import compose

    quiet_libraries()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        overrides = [*build_model(shape, dtype, tmp / "model", tmp / "cache"), f"model.device={device}"]
        cfg = compose(overrides)
        model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
        result = {"shape": name, "device": device,
                  "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu", "dtype": dtype,
                  "layer": shape["layer"], "d_in": shape["hidden_size"], "d_sae": shape["d_sae"]}
        result.update(harvest_vs_forward(model, tokenizer, cfg, shape["layer"], shape["batch"], device))
        store, _ = ensure_store(cfg, model, tokenizer, progress=False)
        result.update(store_rows=store.n_rows, store_tokens_per_s=store.manifest["tokens_per_second"])
        del model
        sae_figures, relu = sae_training(cfg, store, shape, device)
        result.update(sae_figures)
        result.update(serving(overrides, relu, store, shape, tmp / "serve", device))
    result["seconds"] = time.perf_counter() - start
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main(sys.argv[1:])
