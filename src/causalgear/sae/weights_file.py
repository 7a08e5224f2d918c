"""The weights file of a saved SAE, written atomically with its checksum in cfg.json."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from causalgear.io import follow_umask, sha256_file, write_json
from causalgear.sae.paths import CFG


def write_weights(tensors: dict[str, torch.Tensor], path: Path, name: str, cfg: dict) -> None:
    """Write the weights file `name` atomically, then cfg.json with its sha256 (under "causalgear",
    where SAELens' loader does not look), so a changed or corrupt byte is caught on load."""
    tmp = path / f".{name}.tmp"
    save_file(tensors, tmp)
    follow_umask(tmp)
    tmp.replace(path / name)
    cfg.setdefault("causalgear", {})["weights_sha256"] = sha256_file(path / name)
    write_json(path / CFG, cfg)
