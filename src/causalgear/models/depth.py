"""A model's depth, read without loading its weights: the preflight of `model.layer` and `harvest.layer`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from causalgear.config import ConfigError


def model_num_layers(model) -> int:
    """Depth of the configured model: the embedded recipe's; a local folder's config.json; a hub
    id's config through transformers (the Hugging Face cache first, then the hub, else a
    ConfigError); the declared `model.num_layers` only where the config says none."""
    if model.name_or_path == "embedded" and model.build is not None:
        return int(model.build.num_layers)
    path = Path(os.path.expanduser(str(model.name_or_path)))
    if (path / "config.json").is_file():
        cfg = json.loads((path / "config.json").read_text())
        cfg = cfg.get("text_config", cfg)
    elif path.exists() or str(model.name_or_path).startswith((".", "/", "~")):
        raise ConfigError("model.name_or_path", str(model.name_or_path),
                          f"a model folder holding config.json ({'it has none' if path.exists() else 'no such path'})"
                          " or a hub id")
    else:
        from causalgear.models.hub import hub_config

        cfg = hub_config(str(model.name_or_path), model.revision).get_text_config().to_dict()
    if "num_hidden_layers" in cfg:
        return int(cfg["num_hidden_layers"])
    return _declared(model)


def _declared(model) -> int:
    if model.get("num_layers") is None:
        raise ConfigError("model.num_layers", None, f"the depth of {model.name_or_path} (its config names none)")
    return int(model.num_layers)


def check_layers(model, harvest) -> None:
    n_layers = model_num_layers(model)
    if not 0 <= model.layer < n_layers:
        raise ConfigError("model.layer", model.layer, f"0..{n_layers - 1} ({model.name} has {n_layers} layers)")
    if harvest.layer is not None and not 0 <= harvest.layer < n_layers:
        raise ConfigError("harvest.layer", harvest.layer, f"0..{n_layers - 1} or null")
