"""What the benchmark scripts share (each runs as `python bench/NAME.py`, so bench/ is on the path)."""

from __future__ import annotations

import torch


def synchronize(device: str) -> None:
    """Wait for queued GPU work before reading a clock (a no-op on a CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()


def attribution_setup(overrides: list[str], feature: int | None, n_prompts: int):
    """(config, workbench, the coordinate, test examples, their unsteered SQL) for the attribution
    benchmarks: the coordinate is `feature`, else evaluate's choice beside the train run."""
    import json
    from pathlib import Path

    from causalgear.models.generate import generate_sql
    from causalgear.preflight import compose
    from causalgear.workbench import Workbench

    cfg = compose(overrides)
    bench = Workbench.load(cfg, "bench")
    if feature is None:
        feature = json.loads((Path(cfg.sae.path).parent / "evaluate" / "causal.json").read_text())["chosen"]
    examples = bench.splits().test[:n_prompts]
    return cfg, bench, feature, examples, generate_sql(bench.model, bench.tokenizer, [e.prompt for e in examples])
