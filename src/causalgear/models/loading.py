"""One function loads every model: hub id, local directory, or the embedded model from the cache."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from causalgear.errors import ModelLoadError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# besides the weights, what decides a local model's activations
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("model.device='cuda' but no CUDA device is available: use auto or cpu")
    return torch.device(device)


def _looks_local(name_or_path: str) -> bool:
    return name_or_path.startswith((".", "/", "~")) or os.path.exists(os.path.expanduser(name_or_path))


def check_local_dir(path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"model path {path} does not exist")
    if not path.is_dir():
        raise ModelLoadError(f"model path {path} is not a directory")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"model directory {path} has no config.json")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ModelLoadError(f"model directory {path} has no weights (expected one of {', '.join(WEIGHT_FILES)})")


def model_source(model_cfg, cache_dir: str | Path) -> str:
    """Where the weights come from: a local directory (built first if embedded) or a hub id."""
    if model_cfg.name_or_path == "embedded":
        from causalgear.models.embedded import ensure_embedded

        return str(ensure_embedded(model_cfg, cache_dir))
    if _looks_local(model_cfg.name_or_path):
        path = Path(os.path.expanduser(model_cfg.name_or_path)).resolve()
        check_local_dir(path)
        return str(path)
    return model_cfg.name_or_path


def _check_hub_source(source: str, revision: str | None) -> None:
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(source, revision=revision, local_files_only=True)
        return  # in the local Hugging Face cache
    except OSError:
        pass
    from causalgear.models.hub import hub_reachable

    if not hub_reachable():
        raise ModelLoadError(f"could not load model {source!r}: it is not in the local Hugging Face cache and the "
                             "hub is unreachable; download it where the hub is reachable, or set "
                             "model.name_or_path to a local copy")


def _quantization_config(quantization: str, device: torch.device):
    if quantization == "none":
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as err:
        raise ModelLoadError(f"model.quantization={quantization!r} needs bitsandbytes ({err}); "
                             "pip install bitsandbytes, or use model.quantization=none") from err
    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=torch.float32 if device.type == "cpu" else torch.bfloat16)
    return BitsAndBytesConfig(load_in_8bit=True)


def load_model(model_cfg, cache_dir: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Frozen, eval-mode model and its left-padding tokenizer."""
    source = model_source(model_cfg, cache_dir)
    device = resolve_device(model_cfg.device)
    quant = _quantization_config(model_cfg.quantization, device)
    kwargs = {"dtype": DTYPES[model_cfg.dtype], "revision": model_cfg.revision}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": str(device)}
    if not os.path.isdir(source):
        _check_hub_source(source, model_cfg.revision)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=model_cfg.revision)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"could not load model {source!r}: {first}") from err
    if quant is None:
        model.to(device)
    model.requires_grad_(False)
    model.eval()
    model.max_context = model_cfg.get("max_context")  # models/context.py: the longest input a stage runs
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    n_layers = model.config.get_text_config().num_hidden_layers
    if not 0 <= model_cfg.layer < n_layers:
        raise ModelLoadError(f"model.layer={model_cfg.layer} is out of range: {source} has {n_layers} layers "
                             f"(allowed 0..{n_layers - 1})")
    return model, tokenizer


def load_tokenizer(model_cfg, cache_dir: str | Path) -> PreTrainedTokenizerBase:
    """The model's tokenizer alone (to decode stored token ids without loading weights)."""
    source = model_source(model_cfg, cache_dir)
    try:
        return AutoTokenizer.from_pretrained(source, revision=model_cfg.revision)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"could not load the tokenizer of {source!r}: {err}") from err

