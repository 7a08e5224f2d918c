"""Structured configs for every Hydra group, and the one place where their values are checked.

Each group option (conf/<group>/<name>.yaml) starts from a schema registered here, so unknown
keys and wrong types fail during composition. `validate` then checks the values that need
knowledge beyond types (ranges, sets, files on disk) and raises `ConfigError`, which the CLI
turns into one line on stderr before any heavy work starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

CONF_DIR = Path(os.environ.get("CAUSALGEAR_CONF", Path(__file__).resolve().parents[2] / "conf"))

COMMAND_SETS = ("CS1", "CS2", "CS3", "CS4")
# TinySQL's phrasing elements: `test_shift.<element>` shifts exactly that one to its held-out phrasing
SHIFT_ELEMENTS = ("verb", "select", "order", "aggregate", "where", "operator")
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")
QUANTIZATIONS = ("none", "8bit", "4bit")
SITES = ("resid", "mlp_out", "attn_out")
SAE_ARCHS = ("deep_relu", "relu", "topk", "deep_topk")
STEERING_POSITIONS = ("response", "last_prompt")
STEERING_EXTRA_METHODS = ("clamp", "diffmean", "random_direction")
IG_METHODS = ("gausslegendre", "riemann_trapezoid")
SERVE_MODES = ("inject", "zero", "additive", "grains", "none")  # none: no steering, whatever the feature
SPIDER_SOURCES = ("local", "hub")
SPIDER_DIFFICULTIES = ("easy", "medium", "hard", "extra")


class ConfigError(ValueError):
    """A config value that is not allowed. The message is one line: key, value, what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


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
    max_seq_len: int = 160
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    train_examples_per_set: int = 8000
    # test examples per command set scored for the model card; None: the whole test split
    test_examples_per_set: int | None = None
    eval_every: int = 500
    eval_examples: int = 64
    seed: int = 0
    threads: int = 0  # 0: torch's default


@dataclass
class ModelConfig:
    name: str = MISSING
    # hub id, local directory, or "embedded" for the model the project builds itself
    name_or_path: str = MISSING
    revision: str | None = None
    dtype: str = "float32"
    device: str = "auto"
    quantization: str = "none"
    layer: int = MISSING
    # declared depth, checked against the loaded model; lets `model.layer` fail before loading
    num_layers: int = MISSING
    build: EmbeddedBuildConfig | None = None


@dataclass
class TinySQLDataConfig:
    name: str = "tinysql"
    seed: int = 0
    command_sets: list[str] = field(default_factory=lambda: list(COMMAND_SETS))
    n_train_per_set: int = 8000
    n_validation_per_set: int = 100
    n_test_per_set: int = 200
    n_test_ood_per_set: int = 100
    n_schemas: int = 400
    n_databases: int = 3
    rows_per_table: int = 24
    # which split the evaluation stages read
    eval_split: str = "test"


@dataclass
class SpiderDataConfig:
    name: str = "spider"
    source: str = "local"  # local directory in the official layout, or the hub's xlangai/spider
    spider_dir: str | None = None
    hub_id: str = "xlangai/spider"
    split: str = "dev"
    max_examples: int = 500
    # all | tinysql: the single-table questions (one SELECT, one table, no join, nesting, GROUP BY,
    # set operation or LIMIT), grouped by TinySQL command set instead of difficulty
    subset: str = "all"
    difficulty: list[str] = field(default_factory=lambda: list(SPIDER_DIFFICULTIES))
    seed: int = 0
    eval_split: str = "dev"


@dataclass
class ExecConfig:
    """Budget for running untrusted SQL."""

    timeout_s: float = 2.0
    max_steps: int = 50_000_000
    max_rows: int = 100_000
    max_value_bytes: int = 1_000_000  # any one string or blob
    max_sql_bytes: int = 100_000  # a statement's text
    max_result_bytes: int = 67_108_864  # the rows held of one result
    max_heap_bytes: int = 268_435_456  # SQLite's heap (process-wide)


@dataclass
class GenerationConfig:
    max_new_tokens: int = 64
    batch_size: int = 32


@dataclass
class HarvestConfig:
    site: str = "resid"
    # None: the model's default layer
    layer: int | None = None
    split: str = "train"
    max_examples: int = 4000
    batch_size: int = 32
    shard_tokens: int = 65536
    max_norm_ratio: float | None = None
    rebuild: bool = True


@dataclass
class SAEConfig:
    arch: str = "deep_relu"
    # code size: the deep_relu bottleneck, the relu dictionary size unless d_sae is set;
    # for topk and deep_topk, the codes kept per row (of d_sae)
    k: int = 64
    d_sae: int | None = None
    l1_coeff: float = 1e-3
    hidden_sizes: list[int] = field(default_factory=lambda: [1024, 256])
    lr: float = 1e-3
    batch_size: int = 512
    epochs: int = 5
    l1_warmup_steps: int = 0
    # rows held in memory to shuffle; a store that fits is read once and fully shuffled each epoch
    buffer_rows: int = 262_144
    # optimizer steps per Lightning batch: Lightning's per-batch overhead, about one small-SAE
    # step on a CPU, is paid once per chunk (bench/sae_train.py)
    steps_per_chunk: int = 16
    # optimizer steps between the checkpoints an interrupted run resumes from (and one at each
    # epoch's end); counted across epochs, written at the first chunk end past each multiple
    checkpoint_every_steps: int = 48
    # validation examples whose gold SQL scores the model's loss with the SAE spliced in
    ce_examples: int = 128
    # an SAE to use instead of training one: a train run dir or a dir with cfg.json
    path: str | None = None


@dataclass
class CausalConfig:
    mode: str = "zero"  # zero | mean | inject | interchange
    # inject: z_j is set to scale x its mean active value over the harvest
    scale: float = 5.0
    n_select: int = 200  # held-out prompts the coordinate is chosen on
    n_test: int = 300  # disjoint held-out prompts it is re-measured on
    exhaustive_max: int = 64
    confirm_top: int = 16
    n_boot: int = 2000
    kl_examples: int = 100
    top_tokens: int = 20
    # TinySQL clean/corrupted pairs per corruption kind for activation patching (0: skip)
    patching_pairs: int = 4


@dataclass
class SteeringConfig:
    # the SAE coordinate to steer; None: the one `causalgear evaluate` chose (causal.json in `causal_path`)
    feature: int | None = None
    causal_path: str | None = None  # an evaluate run dir (or its causal.json)
    direction: str = "raise"  # raise | lower the feature
    # F = the coordinate's pre-activation summed over the positions that write the response
    # (`response`), or at the last prompt token (`last_prompt`)
    position: str = "response"
    # integrated-gradients baseline embedding: pad | zero | mean. Not zero by default: the first
    # RMSNorm maps any alpha * x to the same direction, so F jumps at alpha = 0 and a quadrature
    # misses the jump (embedded model, 20 prompts, 64 steps: mean completeness error 23% for
    # zero, 9.6% for mean, 0.6% for pad)
    baseline: str = "pad"
    n_steps: int = 64
    internal_batch_size: int = 64
    ig_method: str = "gausslegendre"  # gausslegendre | riemann_trapezoid
    top_tokens: int | None = 8  # prompt tokens perturbed (largest |attribution|); None: all
    scale: float = 0.05  # GrAInS step, as a share of each token embedding's norm
    grad_steps: int = 1
    # grids searched on the selection split; empty: use `scale` / `alpha` as given
    scales: list[float] = field(default_factory=lambda: [0.02, 0.05, 0.1, 0.2, 0.5])
    alpha: float = 1.0  # additive steering: x + alpha * (the decoder's contribution of the mean active z_j)
    alphas: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0])
    html_examples: int = 24
    # the data split steering is chosen and reported on (its own selection / test halves), e.g. a
    # graded shift split `test_shift.order` where the model fails; null: data.eval_split. The
    # in-distribution test split is measured too, with the same scale (the regression check)
    split: str | None = None
    # methods steered beside grains and additive, each choosing its scale on selection: `clamp`
    # (z_j set to `clamps` x its mean active value, through the SAE), and the baselines at the
    # additive direction's norm and alphas: `diffmean` (selection prompts answered right minus
    # wrong) and `random_direction` (seeded, equal norm)
    extra_methods: list[str] = field(default_factory=list)
    clamps: list[float] = field(default_factory=lambda: [0.5, 2.0, 5.0, 10.0])


@dataclass
class ReportConfig:
    features: int = 16  # coordinates whose top-activating tokens report.html lists (most frequent first)
    tokens_per_coordinate: int = 8


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"  # loopback: expose it on purpose (host=0.0.0.0), never by default
    port: int = 8765
    sae_quantization: str = "none"  # none | nf4 (bitsandbytes' 4-bit NormalFloat, dequantized on load)
    # the coordinate a request steers when it names none (None: steering.feature, or the choice in
    # steering.causal_path's causal.json; none of them: requests without a feature are not steered)
    feature: int | None = None
    mode: str = "inject"  # inject | zero | additive | grains | none (no steering)
    # inject: z_j = scale x its mean active value; additive: alpha; grains: share of each embedding's norm
    scale: float = 2.0
    max_new_tokens: int = 64  # a request's default
    max_new_tokens_limit: int = 256
    # a prompt's tokens, the bound on one request's time and memory (IG included); characters are
    # not: one CJK character is three tokens of a byte-level BPE
    max_prompt_tokens: int = 1024
    max_body_bytes: int = 65536
    max_queue: int = 32  # requests waiting or running; one more gets 503
    request_timeout_s: float = 30.0
    grains_ig_steps: int = 16
    top_tokens: int = 10  # GET /features/{j}
    # torch threads of the model worker (0: torch's default). Requests run one at a time and are
    # small: more threads only spin against the HTTP loop (measured: p50 155 -> 119 ms unsteered,
    # 241 -> 137 ms steered at 1 thread, 4 clients, embedded model)
    threads: int = 1


@dataclass
class LoggerConfig:
    wandb: bool = True
    project: str = "causalgear"
    entity: str | None = None
    mode: str = "auto"  # auto | online | offline | disabled


@dataclass
class Config:
    stage: str = "none"
    seed: int = 0
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
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(group="data", name="tinysql_schema", node=TinySQLDataConfig)
    cs.store(group="data", name="spider_schema", node=SpiderDataConfig)
    cs.store(group="sae", name="sae_schema", node=SAEConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)


def compose(overrides: list[str] | tuple[str, ...] = (), stage: str = "none") -> DictConfig:
    """The config a stage would get from `causalgear STAGE overrides...`, for tests and notebooks."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_configs()
    with initialize_config_dir(version_base=None, config_dir=str(CONF_DIR)):
        return hydra_compose("config", overrides=[*overrides, f"stage={stage}"])


def _one_of(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, value, f"one of {', '.join(allowed)}")


def _positive(key: str, value: Any) -> None:
    if not isinstance(value, int) or value <= 0:
        raise ConfigError(key, value, "an integer > 0")


def model_num_layers(model: DictConfig) -> int:
    """Depth of the configured model, read without loading weights where a config.json exists."""
    path = Path(os.path.expanduser(str(model.name_or_path)))
    if model.name_or_path != "embedded" and (path / "config.json").is_file():
        cfg = json.loads((path / "config.json").read_text())
        cfg = cfg.get("text_config", cfg)
        if "num_hidden_layers" in cfg:
            return int(cfg["num_hidden_layers"])
    if model.name_or_path == "embedded" and model.build is not None:
        return int(model.build.num_layers)
    return int(model.num_layers)


def _unknown_keys(node: Any, key: str) -> None:
    """Refuse keys a schema does not declare. Hydra's `+key=value` adds a key even to a structured
    node, so a typo such as `+sae.l1_coef=1e-2` would compose and be silently ignored."""
    if not isinstance(node, DictConfig):
        return
    schema = OmegaConf.get_type(node)
    fields = {f.name for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else None
    for name in node.keys():
        where = f"{key}.{name}" if key else str(name)
        if fields is not None and name not in fields:
            raise ConfigError(where, node._get_node(name)._value(),
                              f"a key of {key or 'the root config'}: one of {', '.join(sorted(fields))}")
        if fields is not None or key.startswith("transfer"):
            _unknown_keys(node._get_node(name), where)


def _finite_numbers(node: Any, key: str) -> None:
    """NaN and infinities pass every `<` check and are never a meaningful setting."""
    if isinstance(node, DictConfig):
        for name in node.keys():
            _finite_numbers(node._get_node(name), f"{key}.{name}" if key else str(name))
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            _finite_numbers(node._get_node(i), f"{key}[{i}]")
    else:
        value = node._value() if hasattr(node, "_value") else node
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, value, "a finite number")


def validate(cfg: DictConfig) -> None:
    """Check every value whose type alone does not say it is allowed. Cheap: no model loading."""
    _unknown_keys(cfg, "")
    _finite_numbers(cfg, "")
    m = cfg.model
    _one_of("model.dtype", m.dtype, DTYPES)
    _one_of("model.device", m.device, DEVICES)
    _one_of("model.quantization", m.quantization, QUANTIZATIONS)
    n_layers = model_num_layers(m)
    if not 0 <= m.layer < n_layers:
        raise ConfigError("model.layer", m.layer, f"0..{n_layers - 1} ({m.name} has {n_layers} layers)")
    if m.name_or_path == "embedded":
        if m.build is None:
            raise ConfigError("model.build", None, "a build recipe for the embedded model")
        for key in ("hidden_size", "num_layers", "num_heads", "vocab_size", "steps", "batch_size"):
            _positive(f"model.build.{key}", m.build[key])
        if m.build.hidden_size % m.build.num_heads:
            raise ConfigError("model.build.num_heads", m.build.num_heads,
                              f"a divisor of model.build.hidden_size={m.build.hidden_size}")

    _validate_data(cfg.data, "data")
    from causalgear.interventions.transfer import unavailable

    for name, target in (cfg.get("transfer") or {}).items():
        if unavailable(target) is None:  # one that cannot be found is skipped, and evaluate says why
            _validate_data(target, f"transfer.{name}")

    if cfg.exec.timeout_s <= 0:
        raise ConfigError("exec.timeout_s", cfg.exec.timeout_s, "a number of seconds > 0")
    for key in ("max_steps", "max_rows", "max_value_bytes", "max_sql_bytes", "max_result_bytes", "max_heap_bytes"):
        _positive(f"exec.{key}", cfg.exec[key])
    _positive("generation.max_new_tokens", cfg.generation.max_new_tokens)
    _positive("generation.batch_size", cfg.generation.batch_size)

    _one_of("harvest.site", cfg.harvest.site, SITES)
    if cfg.harvest.layer is not None and not 0 <= cfg.harvest.layer < n_layers:
        raise ConfigError("harvest.layer", cfg.harvest.layer, f"0..{n_layers - 1} or null")
    for key in ("shard_tokens", "max_examples", "batch_size"):
        _positive(f"harvest.{key}", cfg.harvest[key])
    if cfg.stage in HARVESTING_STAGES:  # `data` or `accuracy` on a Spider copy without its train file is fine
        _validate_split("harvest.split", cfg.harvest.split, cfg.data)
    if cfg.harvest.max_norm_ratio is not None and cfg.harvest.max_norm_ratio <= 0:
        raise ConfigError("harvest.max_norm_ratio", cfg.harvest.max_norm_ratio, "a number > 0, or null")
    for i, width in enumerate(cfg.sae.hidden_sizes):
        _positive(f"sae.hidden_sizes[{i}]", width)
    _one_of("sae.arch", cfg.sae.arch, SAE_ARCHS)
    _positive("sae.k", cfg.sae.k)
    if cfg.sae.d_sae is not None:
        _positive("sae.d_sae", cfg.sae.d_sae)
    if cfg.sae.l1_coeff < 0:
        raise ConfigError("sae.l1_coeff", cfg.sae.l1_coeff, "a number >= 0")
    for key in ("batch_size", "epochs", "steps_per_chunk", "buffer_rows", "checkpoint_every_steps"):
        _positive(f"sae.{key}", cfg.sae[key])
    if cfg.sae.lr <= 0:
        raise ConfigError("sae.lr", cfg.sae.lr, "a number > 0")
    if cfg.sae.path is not None:
        from causalgear.sae.paths import sae_dir

        if sae_dir(cfg.sae.path) is None:
            raise ConfigError("sae.path", cfg.sae.path, "a train run dir (holding sae/cfg.json) or an SAE dir")
    _one_of("logger.mode", cfg.logger.mode, ("auto", "online", "offline", "disabled"))
    _one_of("causal.mode", cfg.causal.mode, ("zero", "mean", "inject", "interchange"))
    for key in ("n_select", "n_test", "exhaustive_max", "confirm_top", "n_boot", "kl_examples"):
        _positive(f"causal.{key}", cfg.causal[key])
    _validate_steering(cfg.steering, cfg.data)
    for key in ("features", "tokens_per_coordinate"):
        if not isinstance(cfg.report[key], int) or cfg.report[key] < 0:
            raise ConfigError(f"report.{key}", cfg.report[key], "an integer >= 0")
    _validate_serve(cfg.serve)


def _validate_serve(s: DictConfig) -> None:
    _one_of("serve.sae_quantization", s.sae_quantization, ("none", "nf4"))
    _one_of("serve.mode", s.mode, SERVE_MODES)
    if not 0 < s.port < 65536:
        raise ConfigError("serve.port", s.port, "1..65535")
    for key in ("max_new_tokens", "max_new_tokens_limit", "max_prompt_tokens", "max_body_bytes", "max_queue",
                "grains_ig_steps", "top_tokens"):
        _positive(f"serve.{key}", s[key])
    if s.max_new_tokens > s.max_new_tokens_limit:
        raise ConfigError("serve.max_new_tokens", s.max_new_tokens, f"at most serve.max_new_tokens_limit="
                          f"{s.max_new_tokens_limit}")
    if not isinstance(s.threads, int) or s.threads < 0:
        raise ConfigError("serve.threads", s.threads, "an integer >= 0 (0: torch's default)")
    if s.request_timeout_s <= 0:
        raise ConfigError("serve.request_timeout_s", s.request_timeout_s, "a number of seconds > 0")
    if s.feature is not None and (not isinstance(s.feature, int) or s.feature < 0):
        raise ConfigError("serve.feature", s.feature, "a coordinate index >= 0, or null")


def _validate_data(d: DictConfig, key: str) -> None:
    """One data config (`key`: where it sits, for the message)."""
    if d.name == "tinysql":
        if len(d.command_sets) == 0:
            raise ConfigError(f"{key}.command_sets", list(d.command_sets),
                              f"a non-empty subset of {', '.join(COMMAND_SETS)}")
        for cs in d.command_sets:
            _one_of(f"{key}.command_sets", cs, COMMAND_SETS)
        for field_ in ("n_train_per_set", "n_validation_per_set", "n_test_per_set", "n_test_ood_per_set",
                       "n_schemas", "n_databases", "rows_per_table"):
            _positive(f"{key}.{field_}", d[field_])
        _validate_split(f"{key}.eval_split", d.eval_split, d)
    elif d.name == "spider":
        _one_of(f"{key}.source", d.source, SPIDER_SOURCES)
        _one_of(f"{key}.subset", d.subset, ("all", "tinysql"))
        _positive(f"{key}.max_examples", d.max_examples)
        for diff in d.difficulty:
            _one_of(f"{key}.difficulty", diff, SPIDER_DIFFICULTIES)
        if d.source == "local" or d.spider_dir is not None:
            spider_dir = Path(os.path.expanduser(str(d.spider_dir))) if d.spider_dir else None
            if spider_dir is None or not spider_dir.is_dir():
                raise ConfigError(f"{key}.spider_dir", d.spider_dir, "an existing directory in Spider's layout")
            if not (spider_dir / "tables.json").is_file():
                raise ConfigError(f"{key}.spider_dir", d.spider_dir, "a directory that holds tables.json")
            _validate_split(f"{key}.split", d.split, d)
    else:
        raise ConfigError(f"{key}.name", d.name, "one of tinysql, spider")


TINYSQL_SPLITS = ("train", "validation", "test", "test_ood", *(f"test_shift.{e}" for e in SHIFT_ELEMENTS))
# the stages that read or build the activation store (and so harvest.split)
HARVESTING_STAGES = ("harvest", "train", "evaluate", "steer", "serve", "pipeline", "none")


def _validate_split(key: str, split: str, d: DictConfig) -> None:
    if d.name == "tinysql":
        _one_of(key, split, TINYSQL_SPLITS)
    elif d.source == "local" and d.spider_dir:
        spider_dir = Path(os.path.expanduser(str(d.spider_dir)))
        if not (spider_dir / _spider_file(split)).is_file():
            raise ConfigError(key, split,
                              f"a split whose file exists in {spider_dir} ({_spider_file(split)} is missing)")


def _validate_steering(s: DictConfig, data: DictConfig) -> None:
    if s.split is not None:
        _validate_split("steering.split", s.split, data)
    if s.feature is not None and (not isinstance(s.feature, int) or s.feature < 0):
        raise ConfigError("steering.feature", s.feature, "a coordinate index >= 0, or null (evaluate's choice)")
    _one_of("steering.direction", s.direction, ("raise", "lower"))
    for method in s.extra_methods:
        _one_of("steering.extra_methods", method, STEERING_EXTRA_METHODS)
    _one_of("steering.position", s.position, STEERING_POSITIONS)
    _one_of("steering.baseline", s.baseline, ("zero", "pad", "mean"))
    _one_of("steering.ig_method", s.ig_method, IG_METHODS)
    for key in ("n_steps", "internal_batch_size", "grad_steps", "html_examples"):
        _positive(f"steering.{key}", s[key])
    if s.ig_method == "riemann_trapezoid" and s.n_steps < 2:
        raise ConfigError("steering.n_steps", s.n_steps, "an integer >= 2 for riemann_trapezoid")
    if s.top_tokens is not None:
        _positive("steering.top_tokens", s.top_tokens)
    for key in ("scale", "alpha"):
        if s[key] < 0:
            raise ConfigError(f"steering.{key}", s[key], "a number >= 0")
    for key in ("scales", "alphas", "clamps"):
        if any(v <= 0 for v in s[key]):
            raise ConfigError(f"steering.{key}", list(s[key]), "numbers > 0 (0 is the unsteered baseline)")


def _spider_file(split: str) -> str:
    return {"dev": "dev.json", "train": "train_spider.json"}.get(split, f"{split}.json")
