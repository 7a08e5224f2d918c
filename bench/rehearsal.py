"""A rehearsal at the reference shapes on the CPU: every stage through the command line, with its
peak memory and seconds.

A Qwen2ForCausalLM with Qwen2.5-0.5B's configuration (hidden 896, 24 blocks, 14 heads, 2 KV heads,
intermediate 4864, vocabulary 151,936) and random weights, with a TinySQL tokenizer, is saved to a
local folder (bench/device.py's `build_model`); then harvest at the site after block 18, train,
evaluate, steer and features each run as their own `causalgear` process on it at small counts, and
`causalgear serve` answers one steered request. Each stage's peak resident memory is its process's
own (`os.wait4`), its seconds the wall time of the process (Python and model loading included).
`--blocks N` keeps the full width and vocabulary with fewer blocks (the site moves to the block
before the last). Ends with one JSON line; `--out FILE` writes it too.

  python bench/rehearsal.py                       # the reference shape, tens of minutes on 2 cores
  python bench/rehearsal.py --blocks 4            # full width and vocabulary, 4 blocks
  python bench/rehearsal.py --tiny                # bench/device.py's tiny shape, seconds
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Counts small enough for a CPU, large enough that every stage does each kind of work once or more.
SMALL = ["sae=topk", "sae.d_sae=4096", "sae.k=32", "sae.epochs=1", "sae.ce_examples=8", "causal.n_select=8",
         "causal.n_test=8", "causal.n_boot=200", "causal.kl_examples=4", "generation.max_new_tokens=16",
         "generation.batch_size=16", "steering.grains.scales=[1.0]", "steering.methods.alphas=[1.0]",
         "steering.grains.n_steps=4", "report.features=8", "causal.patching_pairs=1", "causal.pairs=16",
         "causal.confirm_top=4", "causal.pair_candidates=4"]


def device_bench():
    spec = importlib.util.spec_from_file_location("device_bench", Path(__file__).with_name("device.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_stage(args: list[str], log: Path) -> dict:
    """One `causalgear` process: its seconds, peak resident MiB and exit status."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "causalgear", *args], cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"causalgear {args[0]} exited {proc.returncode}; its log: {log}\n"
                           + log.read_text()[-3000:])
    return {"seconds": round(seconds, 1), "peak_mib": round(usage.ru_maxrss / 1024)}


def serve_one(overrides: list[str], feature: int, log: Path) -> dict:
    """`causalgear serve` on a free port, one steered POST /generate, then stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "causalgear", "serve", *overrides, f"serve.port={port}"],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            for _ in range(1200):
                if proc.poll() is not None:
                    raise RuntimeError(f"causalgear serve exited {proc.returncode}; its log: {log}")
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
                    break
                except OSError:
                    time.sleep(0.5)
            ready = time.perf_counter() - start
            body = json.dumps({"prompt": "### Instruction: show the name of items ### Context: CREATE TABLE items "
                                         "(name TEXT, price REAL) ### Response:", "mode": "clamp",
                               "feature": feature, "scale": 2.0}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/generate", data=body,
                                             headers={"Content-Type": "application/json"})
            t = time.perf_counter()
            with urllib.request.urlopen(request, timeout=600) as r:
                answer = json.loads(r.read())
            latency = time.perf_counter() - t
        finally:
            proc.terminate()
        _, _, usage = os.wait4(proc.pid, 0)
    return {"seconds": round(ready, 1), "request_seconds": round(latency, 2), "peak_mib": round(usage.ru_maxrss / 1024),
            "sql_tokens": answer["sql_tokens"], "timings_ms": answer["timings_ms"]}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=None, help="decoder blocks (default: the shape's own)")
    p.add_argument("--tiny", action="store_true", help="bench/device.py's tiny shape")
    p.add_argument("--examples", type=int, default=64, help="examples harvested")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON line here")
    p.add_argument("--stages", default="harvest,train,evaluate,steer,features,serve",
                   help="the stages to run, in order (harvest and train first)")
    args = p.parse_args(argv)
    device = device_bench()
    shape = dict(device.SHAPES["tiny" if args.tiny else "qwen2.5-0.5b"], examples=args.examples)
    if args.blocks is not None:
        shape.update(num_hidden_layers=args.blocks, layer=min(shape["layer"], args.blocks - 2))
    sys.path.insert(0, str(REPO / "src"))
    result = {"shape": "tiny" if args.tiny else "qwen2.5-0.5b", "blocks": shape["num_hidden_layers"],
              "hidden": shape["hidden_size"], "vocabulary": shape["vocab_size"], "layer": shape["layer"],
              "examples": args.examples, "dtype": "float32", "device": "cpu", "stages": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        overrides = device.build_model(shape, "float32", tmp / "model", tmp / "cache")
        overrides = [*overrides, "device=cpu", *SMALL, f"sae.d_sae={min(4096, 8 * shape['hidden_size'])}"]
        result["build_seconds"] = round(time.perf_counter() - start, 1)
        result["parameters"] = _parameters(tmp / "model")
        run = tmp / "run"
        stages = [("harvest", []), ("train", []), ("evaluate", [f"sae.path={run / 'train'}"]),
                  ("steer", [f"sae.path={run / 'train'}", f"steering.target.causal_path={run / 'evaluate'}"]),
                  ("features", [f"sae.path={run / 'train'}"])]
        wanted = args.stages.split(",")
        for name, extra in [s for s in stages if s[0] in wanted]:
            print(f"== {name}", flush=True)
            result["stages"][name] = run_stage([name, *overrides, *extra, f"hydra.run.dir={run / name}"],
                                               tmp / f"{name}.log")
            print(json.dumps(result["stages"][name]), flush=True)
        harvest = json.loads((run / "harvest" / "harvest.json").read_text())
        result["harvest_tokens"] = harvest["rows"]
        result["harvest_tokens_per_s_forward"] = harvest["tokens_per_second"]
        result["stages"]["harvest"]["ms_per_token"] = round(1000 * result["stages"]["harvest"]["seconds"]
                                                            / harvest["rows"], 2)
        if "serve" in wanted:
            causal = json.loads((run / "evaluate" / "causal.json").read_text())
            print("== serve", flush=True)
            result["stages"]["serve"] = serve_one([*overrides, f"sae.path={run / 'train'}"], int(causal["chosen"]),
                                                  tmp / "serve.log")
            print(json.dumps(result["stages"]["serve"]), flush=True)
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        args.out.write_text(line + "\n")


def _parameters(folder: Path) -> int:
    import math

    from safetensors import safe_open

    total = 0
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(f, "pt") as st:
            total += sum(math.prod(st.get_slice(key).get_shape()) for key in st.keys())
    return total


if __name__ == "__main__":
    main(sys.argv[1:])
