"""Load test of `causalgear serve`: latency percentiles and throughput, steered and unsteered.

Starts the service on loopback in its own process, then N concurrent clients send /generate
requests (TinySQL test prompts) for a bounded number of requests and time: first unsteered
(mode=none), then steered (the given feature and mode). Ends with one JSON line. Steering can
change what is generated (a longer or shorter SQL), so beside the ratio of p50 latencies the
line gives the mean SQL length of each phase and the ratio per generated token.

    python bench/serve_load.py sae.path=outputs/train/DATE/TIME [--clients 4] [--requests 80]
        [--seconds 120] [--mode clamp] [--feature J] [--max-new-tokens 64] [other overrides]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode} before it was healthy")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"the service was not healthy after {timeout_s} s")


def load(url: str, bodies: list[dict], clients: int, n_requests: int, seconds: float) -> dict:
    latencies: list[float] = []
    tokens: list[int] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(n_requests))
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                start = time.perf_counter()
                try:
                    r = http.post(f"{url}/generate", json=bodies[i % len(bodies)])
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append(1000 * (time.perf_counter() - start))
                    errors[0] += not ok
                    if ok:
                        tokens.append(r.json()["sql_tokens"])

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.array(latencies)
    return {"p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "throughput_rps": round(len(lat) / wall, 2),
            "requests": len(lat), "errors": errors[0], "sql_tokens_mean": round(float(np.mean(tokens)), 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--requests", type=int, default=80, help="per phase")
    p.add_argument("--seconds", type=float, default=120, help="per phase, at most")
    p.add_argument("--mode", default="clamp", choices=["clamp", "zero", "additive", "grains"])
    p.add_argument("--feature", type=int, default=0)
    p.add_argument("--scale", type=float, default=None)
    p.add_argument("--max-new-tokens", type=int, default=64)
    args, overrides = p.parse_known_args()

    from causalgear.data.loading import load_split
    from causalgear.preflight import compose

    cfg = compose(overrides)
    prompts = [e.prompt for e in load_split(cfg)[:64]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "causalgear", "serve", *overrides, f"serve.port={port}",
                             "serve.host=127.0.0.1", f"serve.max_queue={max(32, 2 * args.clients)}"])
    try:
        health = wait_healthy(url, proc)
        print(f"service up: {health}", file=sys.stderr)
        base = {"max_new_tokens": args.max_new_tokens}
        unsteered = [{"prompt": q, "mode": "none", **base} for q in prompts]
        steered = [{"prompt": q, "feature": args.feature, "mode": args.mode, **base} |
                   ({"scale": args.scale} if args.scale is not None else {}) for q in prompts]
        load(url, unsteered[:4], args.clients, 2 * args.clients, 30)  # warm-up
        plain = load(url, unsteered, args.clients, args.requests, args.seconds)
        steer = load(url, steered, args.clients, args.requests, args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps({**steer, "mode": args.mode, "feature": args.feature, "clients": args.clients,
                      "max_new_tokens": args.max_new_tokens, "unsteered": plain,
                      "steering_overhead_ratio": round(steer["p50_ms"] / plain["p50_ms"], 3),
                      # steering may change what is generated: the same ratio per generated SQL token
                      "per_token_overhead_ratio": round((steer["p50_ms"] / steer["sql_tokens_mean"])
                                                        / (plain["p50_ms"] / plain["sql_tokens_mean"]), 3)}))


if __name__ == "__main__":
    main()
