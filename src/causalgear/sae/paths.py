"""Where an SAE lives, checked without torch (config validation uses it)."""

from __future__ import annotations

import os
from pathlib import Path

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
Q4_WEIGHTS = "sae_weights.q4.safetensors"  # the 4-bit format (causalgear.sae.quantize)


def sae_dir(path: str | Path) -> Path | None:
    """The directory holding cfg.json for `path` (a train run dir or an SAE dir), or None."""
    p = Path(os.path.expanduser(str(path)))
    for candidate in (p / "sae", p):
        if (candidate / CFG).is_file() and any((candidate / w).is_file() for w in (WEIGHTS, Q4_WEIGHTS)):
            return candidate
    return None


def saved_width(path: str | Path) -> int:
    """d_sae of the SAE at `path`, read from its cfg.json without loading the weights."""
    import json

    return int(json.loads((sae_dir(path) / CFG).read_text())["d_sae"])
