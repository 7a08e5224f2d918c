"""SAE checkpoints: `cfg.json` + `sae_weights.safetensors`, one loader for every architecture.

`relu` and `topk` are written in SAELens' names and fields (W_enc [d_in, d_sae], W_dec
[d_sae, d_in], b_enc, b_dec; architecture "standard" / "topk"), so SAELens and tools that read
its format load them unchanged. `deep_relu` and `deep_topk` use the same file pair with their own
layer names.
Weights are saved with the activation normalisation folded in: they read raw activations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from safetensors.torch import load_file

from causalgear.sae import registry
from causalgear.sae.base import SparseAutoencoder
from causalgear.sae.paths import CFG, Q4_WEIGHTS, WEIGHTS, SAELoadError, verify_weights
from causalgear.sae.weights_file import write_weights


def hook_name(layer: int, site: str) -> str:
    """TransformerLens-style name of the hooked site."""
    return {"resid": f"blocks.{layer}.hook_resid_post", "mlp_out": f"blocks.{layer}.hook_mlp_out",
            "attn_out": f"blocks.{layer}.hook_attn_out"}[site]


def save_sae(sae: SparseAutoencoder, path: str | Path, *, layer: int, site: str, model_name: str,
             extra: dict | None = None) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous() for k, v in sae.weights().items()}
    cfg = {
        "architecture": sae.saelens_architecture,
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": sae.applies_b_dec_to_input,
        "normalize_activations": "none",  # folded into the weights
        "reshape_activations": "none",
        "hook_name": hook_name(layer, site),
        "hook_layer": layer,
        "model_name": model_name,
        "metadata": {"model_name": model_name, "hook_name": hook_name(layer, site), "hook_layer": layer,
                     "prepend_bos": False},
        "causalgear": {**sae.config(), "layer": layer, "site": site, **(extra or {})},
    }
    if sae.uses_k:
        cfg["k"] = sae.k
    write_weights(tensors, path, WEIGHTS, cfg)
    return path


def verified(sae_cfg: dict) -> bool:
    """Whether a loaded SAE's weights were checked against the sha256 its cfg.json records
    (`load_sae` refuses a mismatch, so a recorded hash means a checked one)."""
    return isinstance(sae_cfg.get("causalgear"), dict) and "weights_sha256" in sae_cfg["causalgear"]


def load_sae(path: str | Path) -> tuple[SparseAutoencoder, dict]:
    """The SAE saved at `path` (a dir holding cfg.json, or a train run dir holding sae/)."""
    path = Path(path)
    if (path / "sae" / CFG).is_file():
        path = path / "sae"
    from causalgear.sae.quantize import dequantized_state

    weights = WEIGHTS if (path / WEIGHTS).is_file() else Q4_WEIGHTS
    if not (path / CFG).is_file() or not (path / weights).is_file():
        raise SAELoadError(f"no SAE at {path}: expected {CFG} and {WEIGHTS} (or the 4-bit {Q4_WEIGHTS})")
    try:
        cfg = json.loads((path / CFG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SAELoadError(f"corrupt SAE checkpoint at {path}: {CFG} is not valid JSON ({err})") from err
    if not isinstance(cfg, dict):
        raise SAELoadError(f"corrupt SAE checkpoint at {path}: {CFG} is not a JSON object")
    if not verify_weights(path, cfg):  # an SAE from elsewhere (SAELens saves no hash): it loads, and says so
        print(f"warning: the SAE at {path} records no weights_sha256, so its weights cannot be checked; "
              "outputs that use it say sae_verified: false", file=sys.stderr)
    try:
        tensors = load_file(path / weights)
        if weights == Q4_WEIGHTS:
            tensors = dequantized_state(tensors, cfg["causalgear"]["quantization"])
    except Exception as err:  # noqa: BLE001 - any parse failure is a corrupt checkpoint
        raise SAELoadError(f"corrupt SAE checkpoint at {path}: {err}") from err
    cls = registry.by_saved_name(cfg)
    if cls is None:
        raise SAELoadError(f"SAE at {path}: unknown architecture {cfg.get('architecture')!r} "
                           f"(registered: {', '.join(registry.names())})")
    sae = cls.from_saved(cfg)
    state = sae.state_dict()
    missing = [k for k in state if k not in tensors]
    if missing or any(tensors[k].shape != state[k].shape for k in state if k in tensors):
        raise SAELoadError(f"SAE at {path}: weights do not match cfg.json (missing or misshapen: "
                           f"{', '.join(missing) or 'shapes'})")
    sae.load_state_dict({**state, **{k: v for k, v in tensors.items() if k in state}})
    return sae.eval(), cfg
