"""Where an SAE lives, checked without torch (config validation uses it)."""

from __future__ import annotations

import os
from pathlib import Path


def sae_dir(path: str | Path) -> Path | None:
    """The directory holding cfg.json for `path` (a train run dir or an SAE dir), or None."""
    p = Path(os.path.expanduser(str(path)))
    for candidate in (p / "sae", p):
        if (candidate / "cfg.json").is_file() and any((candidate / w).is_file() for w in
                                                      ("sae_weights.safetensors", "sae_weights.q4.safetensors")):
            return candidate
    return None
