"""`causalgear data`: build (or find) the configured data set and write its summary."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig


def run(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.data.sources import of

    summary = of(cfg).summary()
    (out_dir / "data.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return summary
