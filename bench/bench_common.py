"""What the benchmark scripts share (each runs as `python bench/NAME.py`, so bench/ is on the path)."""

from __future__ import annotations

import torch


def synchronize(device: str) -> None:
    """Wait for queued GPU work before reading a clock (a no-op on a CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()
