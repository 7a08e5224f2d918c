"""Where an SAE lives and what its cfg.json says, checked without torch (config validation uses it)."""

from __future__ import annotations

import os
from pathlib import Path

from causalgear.config import ConfigError
from causalgear.errors import CausalgearError

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
Q4_WEIGHTS = "sae_weights.q4.safetensors"  # the 4-bit format (causalgear.sae.quantize)


class SAELoadError(CausalgearError):
    """An SAE directory that is missing files or does not match its cfg.json."""


def sae_dir(path: str | Path) -> Path | None:
    """The directory holding cfg.json for `path` (a train run dir or an SAE dir), or None."""
    p = Path(os.path.expanduser(str(path)))
    for candidate in (p / "sae", p):
        if (candidate / CFG).is_file() and any((candidate / w).is_file() for w in (WEIGHTS, Q4_WEIGHTS)):
            return candidate
    return None


def causal_json_beside(sae_path: str | Path) -> Path:
    """Where evaluate wrote its causal.json in the run dir that holds the SAE dir (`<run>/train/sae`)."""
    return Path(sae_path).parent.parent / "evaluate" / "causal.json"


def saved_cfg(path: str | Path) -> dict:
    """The cfg.json of the SAE at `path` (a train run dir or an SAE dir); one line if it is not whole."""
    from causalgear.io import read_json

    cfg = read_json(sae_dir(path) / CFG, "retrain the SAE or restore the file")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("d_sae"), int):
        raise SAELoadError(f"{sae_dir(path) / CFG} is not an SAE's cfg.json (no integer d_sae); retrain the SAE "
                              "or restore the file")
    return cfg


def saved_width(path: str | Path) -> int:
    """d_sae of the SAE at `path`, read from its cfg.json without loading the weights."""
    return int(saved_cfg(path)["d_sae"])


def verify_weights(path: Path, cfg: dict) -> bool:
    """Check the weights file in SAE dir `path` against the sha256 its cfg.json records: True when
    they match, False when none is recorded (an SAE saved elsewhere, e.g. by SAELens); a mismatch
    raises. Read without torch, so that a stage's input check finds damage in seconds."""
    from causalgear.io import sha256_file

    digest = cfg.get("causalgear", {}).get("weights_sha256") if isinstance(cfg.get("causalgear"), dict) else None
    if digest is None:
        return False
    weights = WEIGHTS if (path / WEIGHTS).is_file() else Q4_WEIGHTS
    if sha256_file(path / weights) != digest:
        raise SAELoadError(f"corrupt SAE checkpoint: {path / weights} does not match the sha256 in its {CFG} "
                           f"(changed or damaged since it was saved; retrain it or restore the file)")
    return True


# the keys of the `sae` group that an SAE's own files decide once it is loaded from sae.path
SHAPE_KEYS = ("arch", "d_sae", "k")


def check_shape_overrides(sae, explicit: set[str]) -> None:
    """An SAE loaded from `sae.path` has its own shape. A command line that also names a shape
    (`sae.d_sae=32`, `sae.arch=relu`, `sae=relu`) and contradicts it is refused, naming the key the
    user set; one that agrees, or names none, passes (the SAE's own shape is used either way)."""
    saved = saved_cfg(sae.path)
    for key in SHAPE_KEYS:
        if f"sae.{key}" not in explicit:
            continue
        if key == "arch":  # ours record it; an SAELens file names its class (imported: torch)
            own = (saved.get("causalgear") or {}).get("arch")
            if own is None:
                from causalgear.sae.registry import by_saved_name

                cls = by_saved_name(saved)
                own = cls.arch if cls is not None else saved.get("architecture")
        else:
            own = saved.get(key)
        if sae[key] != own:
            raise ConfigError(f"sae.{key}", sae[key], f"{own!r}, the value of the SAE at sae.path={sae.path} (an SAE "
                              f"loaded from sae.path keeps its own shape: drop sae.{key}, or train a new SAE)")
