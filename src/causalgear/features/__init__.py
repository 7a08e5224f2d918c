"""Which SAE latents mean something: detection of known concepts, references and a feature page."""

from __future__ import annotations

import json
from pathlib import Path


def load_features(path: str | Path) -> tuple[dict, dict[int, dict]]:
    """(concepts.json, each latent's views) of a `causalgear features` output dir, or of a pipeline
    run dir holding `features/`: what features.html shows, for a notebook to render inline."""
    path = Path(path)
    if (path / "features" / "concepts.json").is_file():
        path = path / "features"
    result = json.loads((path / "concepts.json").read_text())
    views = {int(j): v for j, v in json.loads((path / "views.json").read_text()).items()}
    return result, views
