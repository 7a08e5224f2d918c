"""Structured configs for every Hydra group: a leaf that imports nothing from causalgear.

Closed vocabularies are Enums, checked during composition; each group's dataclass checks its
ranges in `__post_init__` (reached through `OmegaConf.to_object`). Checks that need the disk, a
model's depth or the SAE registry are preflights of the modules that need them, all run by
`causalgear.preflight`. Every error is a `ConfigError`: one line, key, value, what is allowed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from causalgear.config.checks import ConfigError, _at_least, _positive
from causalgear.config.data import (
    COMMAND_SETS,
    SHIFT_ELEMENTS,
    TINYSQL_SPLITS,
    CommandSet,
    Decoding,
    JsonlDataConfig,
    SpiderDataConfig,
    SpiderSubset,
    TinySQLDataConfig,
)
from causalgear.config.run_dirs import unique_dir
from causalgear.config.serve import SAEQuantization, ServeConfig, ServeMode
from causalgear.config.steering import CONCEPT_VALUES, IGMethod, ReadoutPosition, SteeringConfig

__all__ = [  # re-exported: one place to import from
    "COMMAND_SETS", "CONCEPT_VALUES", "SHIFT_ELEMENTS", "TINYSQL_SPLITS", "CommandSet", "ConfigError", "Decoding",
    "IGMethod", "JsonlDataConfig", "ReadoutPosition", "SAEQuantization", "ServeConfig", "ServeMode",
    "SpiderDataConfig", "SpiderSubset", "SteeringConfig", "TinySQLDataConfig",
]

CONF_DIR = Path(os.environ.get("CAUSALGEAR_CONF", Path(__file__).resolve().parents[3] / "conf"))

DType = StrEnum("DType", [(v, v) for v in ("float32", "bfloat16", "float16")])
Device = StrEnum("Device", [(v, v) for v in ("auto", "cpu", "cuda")])
QUANTIZATIONS = ("none", "8bit", "4bit")  # a str: an Enum member cannot be named 8bit
SiteKind = StrEnum("SiteKind", [(v, v) for v in ("resid", "mlp_out", "attn_out")])
CausalMode = StrEnum("CausalMode", [(v, v) for v in ("zero", "mean", "clamp", "interchange")])
SelectBy = StrEnum("SelectBy", [(v, v) for v in ("precision", "accuracy_drop")])
LoggerMode = StrEnum("LoggerMode", [(v, v) for v in ("auto", "online", "offline", "disabled")])


@dataclass
class PathsConfig:
    cache_dir: str = "${oc.env:CAUSALGEAR_CACHE,'~/.cache/causalgear'}"


@dataclass
class EmbeddedBuildConfig:
    """Recipe of the embedded model: what `causalgear build-model` trains from scratch."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    vocab_size: int = 2048
    # training rows longer than this are dropped; multi-table contexts run to a few hundred tokens
    max_seq_len: int = 160
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    train_examples_per_set: int = 8000
    # multi-table TinySQL (`data/multitable.py`) examples per command set added to the training
    # data: real-schema identifier styles, several tables per context, everyday phrasings
    multitable_examples_per_set: int = 0
    # the share of made-up table and column names in those training databases (their validation and
    # test splits keep multi-table TinySQL's own share, so that every recipe meets the same test)
    multitable_made_up: float = 0.2
    # the last steps of `steps` that draw from TinySQL alone: a curriculum, the multi-table mix first
    # and TinySQL's command sets last, so that the wider data does not cost them accuracy
    tinysql_final_steps: int = 0
    # test examples per command set scored for the model card; None: the whole test split
    test_examples_per_set: int | None = None
    eval_every: int = 500
    eval_examples: int = 64
    seed: int = 0
    threads: int = 0  # 0: torch's default

    def __post_init__(self) -> None:
        _positive("model.build", self, "hidden_size", "num_layers", "num_heads", "vocab_size", "steps", "batch_size")
        if self.hidden_size % self.num_heads:
            raise ConfigError("model.build.num_heads", self.num_heads,
                              f"a divisor of model.build.hidden_size={self.hidden_size}")
        if not 0 <= self.multitable_made_up <= 1:
            raise ConfigError("model.build.multitable_made_up", self.multitable_made_up, "a share from 0 to 1")
        if not 0 <= self.tinysql_final_steps < self.steps:
            raise ConfigError("model.build.tinysql_final_steps", self.tinysql_final_steps,
                              f"a step count from 0 to model.build.steps - 1 = {self.steps - 1}")


@dataclass
class ModelConfig:
    name: str = MISSING
    # hub id, local directory, or "embedded" for the model the project builds itself
    name_or_path: str = MISSING
    revision: str | None = None
    dtype: DType = DType.float32
    device: Device = Device.auto
    quantization: str = "none"
    layer: int = MISSING
    # the depth where the model's own config names none (its config.json, the Hugging Face cache or
    # the hub say it otherwise: models/depth.py); lets `model.layer` fail before loading
    num_layers: int | None = None
    build: EmbeddedBuildConfig | None = None
    # the longest prompt (with the tokens generation adds) a stage runs, refused before any forward
    # pass; null: the model's own max_position_embeddings
    max_context: int | None = None
    # an embedded recipe whose model ships with causalgear reads the shipped copy (its hashes
    # verified): the same model on every machine. false: build it from the recipe into the cache
    use_shipped: bool = True

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ConfigError("model.quantization", self.quantization, f"one of {', '.join(QUANTIZATIONS)}")
        if self.max_context is not None:
            _positive("model", self, "max_context")
        if self.name_or_path == "embedded" and self.build is None:
            raise ConfigError("model.build", None, "a build recipe for the embedded model")


@dataclass(unsafe_hash=True)  # hashable: scoring caches gold results per budget
class ExecConfig:
    """Budget for running untrusted SQL (`causalgear.data.sqlexec.ExecBudget` is this class)."""

    timeout_s: float = 2.0
    max_steps: int = 50_000_000
    max_rows: int = 100_000
    max_value_bytes: int = 1_000_000  # any one string or blob, inside SQLite too
    max_sql_bytes: int = 100_000  # a statement's text
    max_result_bytes: int = 64 * 2**20  # the rows Python holds of one result
    max_heap_bytes: int = 256 * 2**20  # SQLite's heap, for the whole process

    def __post_init__(self) -> None:
        _at_least("exec.timeout_s", self.timeout_s, 0, "a number of seconds > 0", strict=True)
        _positive("exec", self, "max_steps", "max_rows", "max_value_bytes", "max_sql_bytes", "max_result_bytes",
                  "max_heap_bytes")


@dataclass
class GenerationConfig:
    max_new_tokens: int = 64
    # prompts per generate call: a decoding step's cost grows more slowly than its rows, so larger
    # batches take fewer steps for the same answers (bench/generation.py measures it on a machine)
    batch_size: int = 128
    # MiB of prompt passes remembered per model, on its device: a batch generated again (under another
    # steering point) replays the blocks before the edited one instead of computing them; a pass over
    # a quarter of this is not kept (models.prefix)
    prefix_cache_mb: int = 1024

    def __post_init__(self) -> None:
        _positive("generation", self, "max_new_tokens", "batch_size")
        _at_least("generation.prefix_cache_mb", self.prefix_cache_mb, 0, "an integer >= 0 (0: none)")


@dataclass
class HarvestConfig:
    site: SiteKind = SiteKind.resid
    # None: the model's default layer
    layer: int | None = None
    split: str = "train"
    max_examples: int = 4000
    batch_size: int = 32
    # rows a shard holds: a shard is written and read whole, so this bounds the harvest's memory
    shard_tokens: int = 65536
    max_norm_ratio: float | None = None
    rebuild: bool = True

    def __post_init__(self) -> None:
        _positive("harvest", self, "shard_tokens", "max_examples", "batch_size")
        if self.max_norm_ratio is not None:
            _at_least("harvest.max_norm_ratio", self.max_norm_ratio, 0, "a number > 0, or null", strict=True)


@dataclass
class SAEConfig:
    # a registered architecture (causalgear.sae.registry): deep_relu, relu, topk, deep_topk, ...
    arch: str = "deep_relu"
    # the dictionary width: how many codes (deep_relu's bottleneck, a one-layer SAE's latents)
    d_sae: int = 64
    # TopK-family architectures only: the codes kept active per row, of d_sae
    k: int | None = None
    l1_coeff: float = 1e-3
    hidden_sizes: list[int] = field(default_factory=lambda: [1024, 256])
    lr: float = 1e-3
    batch_size: int = 512
    epochs: int = 5
    l1_warmup_steps: int = 0
    # rows held in memory to shuffle; a store that fits is read once and fully shuffled each epoch
    buffer_rows: int = 262_144
    # optimizer steps per Lightning batch: Lightning's per-batch overhead is paid once per chunk
    steps_per_chunk: int = 16
    # optimizer steps between the checkpoints an interrupted run resumes from (and at each epoch's end)
    checkpoint_every_steps: int = 48
    # validation examples whose gold SQL scores the model's loss with the SAE spliced in
    ce_examples: int = 128
    # an SAE to use instead of training one: a train run dir or a dir with cfg.json
    path: str | None = None
    # the seed of the SAE's initial weights and batch order (None: the run's `seed`); the harvest,
    # the splits and every other draw keep the run's seed, so two SAE seeds share one harvest
    seed: int | None = None
    # SAEs `causalgear pipeline` trains from one harvest, seeded sae.seed (or seed), +1, +2, ...:
    # every SAE figure is measured on each and each finding says on how many it holds (1: one SAE)
    seeds: int = 3

    def __post_init__(self) -> None:
        _positive("sae", self, "d_sae", "batch_size", "epochs", "steps_per_chunk", "buffer_rows",
                  "checkpoint_every_steps", "seeds")
        if self.k is not None:
            _positive("sae", self, "k")
        _at_least("sae.l1_coeff", self.l1_coeff, 0, "a number >= 0")
        _at_least("sae.lr", self.lr, 0, "a number > 0", strict=True)


@dataclass
class CausalConfig:
    mode: CausalMode = CausalMode.zero
    select_by: SelectBy = SelectBy.precision  # on selection: one SQL component moved (precision), or accuracy_drop
    scale: float = 5.0  # clamp: z_j = scale x its mean active value over the harvest
    n_select: int = 200  # held-out prompts the coordinate is chosen on
    n_test: int = 300  # disjoint held-out prompts it is re-measured on
    exhaustive_max: int = 64
    confirm_top: int = 16
    n_boot: int = 2000
    kl_examples: int = 100
    top_tokens: int = 20
    patching_pairs: int = 4  # activation patching: clean/corrupted TinySQL pairs per corruption kind (0: skip)
    # cause/isolate: chosen on validation pairs, reported on at most `pairs` per attribute (0: skip)
    pairs: int = 150
    pair_candidates: int = 8  # latents tried one by one on each swap's selection pairs
    # cause/isolate also of the SAE's untrained twin (sae.random_twin), the control of its latents
    random_sae: bool = True

    def __post_init__(self) -> None:
        _positive("causal", self, "n_select", "n_test", "exhaustive_max", "confirm_top", "n_boot", "kl_examples",
                  "pair_candidates")
        _at_least("causal.pairs", self.pairs, 0, "an integer >= 0 (0: no cause/isolate)")


@dataclass
class ReportConfig:
    features: int = 16  # coordinates whose top-activating tokens report.html lists (most frequent first)
    tokens_per_coordinate: int = 8

    def __post_init__(self) -> None:
        for key in ("features", "tokens_per_coordinate"):
            _at_least(f"report.{key}", getattr(self, key), 0, "an integer >= 0")


@dataclass
class LoggerConfig:
    wandb: bool = True
    project: str = "causalgear"
    entity: str | None = None
    mode: LoggerMode = LoggerMode.auto  # auto: online when WANDB_API_KEY is set, else offline


def accelerator(device: str) -> str:
    """Lightning's accelerator for the root `device`: the GPU where CUDA is asked for or (auto) seen."""
    if device == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return {"cuda": "gpu"}.get(device, device)


@dataclass
class Config:
    stage: str = "none"
    seed: int = 0
    device: Device = Device.auto
    paths: PathsConfig = field(default_factory=PathsConfig)
    model: ModelConfig = MISSING
    data: Any = MISSING
    exec: ExecConfig = field(default_factory=ExecConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    harvest: HarvestConfig = field(default_factory=HarvestConfig)
    sae: SAEConfig = field(default_factory=SAEConfig)
    trainer: Any = None
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    causal: CausalConfig = field(default_factory=CausalConfig)
    steering: SteeringConfig = field(default_factory=SteeringConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    # name -> a data config: evaluate also measures the chosen coordinate there (experiment=transfer)
    transfer: dict[str, Any] = field(default_factory=dict)


def register_configs() -> None:
    OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("accelerator", accelerator, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(group="data", name="tinysql_schema", node=TinySQLDataConfig)
    cs.store(group="data", name="spider_schema", node=SpiderDataConfig)
    cs.store(group="data", name="jsonl_schema", node=JsonlDataConfig)
    cs.store(group="sae", name="sae_schema", node=SAEConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
