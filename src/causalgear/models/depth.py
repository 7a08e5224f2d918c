"""A model's depth, read without loading its weights: the preflight of `model.layer` and `harvest.layer`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from causalgear.config import ConfigError


def model_num_layers(model) -> int:
    """Depth of the configured model: its config.json where there is one, the embedded recipe's,
    else the declared `model.num_layers`."""
    path = Path(os.path.expanduser(str(model.name_or_path)))
    if model.name_or_path != "embedded" and (path / "config.json").is_file():
        cfg = json.loads((path / "config.json").read_text())
        cfg = cfg.get("text_config", cfg)
        if "num_hidden_layers" in cfg:
            return int(cfg["num_hidden_layers"])
    if model.name_or_path == "embedded" and model.build is not None:
        return int(model.build.num_layers)
    return int(model.num_layers)


def check_layers(model, harvest) -> None:
    n_layers = model_num_layers(model)
    if not 0 <= model.layer < n_layers:
        raise ConfigError("model.layer", model.layer, f"0..{n_layers - 1} ({model.name} has {n_layers} layers)")
    if harvest.layer is not None and not 0 <= harvest.layer < n_layers:
        raise ConfigError("harvest.layer", harvest.layer, f"0..{n_layers - 1} or null")
