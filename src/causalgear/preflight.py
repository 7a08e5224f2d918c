"""Every check of a composed config, before any heavy work starts.

First the values (`causalgear.config`: unknown keys, non-finite numbers, each group's ranges),
then the checks that need more than the values, each owned by the module that needs it: the
model's depth (`models.depth`), the data's files and splits (`data.sources`), the SAE
architecture and path (`sae.registry`, `sae.paths`). Each raises `ConfigError`, one line.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from causalgear.config import CONF_DIR, ConfigError, register_configs

if TYPE_CHECKING:
    from causalgear.workbench import Workbench

# the stages that read or build the activation store (and so harvest.split)
HARVESTING_STAGES = ("harvest", "train", "evaluate", "features", "steer", "serve", "select", "pipeline", "none")
# the stages that load the SAE at sae.path, whose own shape then decides arch, d_sae and k
SAE_READING_STAGES = ("evaluate", "features", "steer", "serve", "select")


def explicit_keys(overrides: list[str] | tuple[str, ...]) -> set[str]:
    """The config keys a command line sets itself; a group choice such as `sae=relu` sets its
    `.arch` (a preset, `experiment=...`, sets none: its values are the project's, not the user's)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = set()
    for o in OverridesParser.create().parse_overrides([o for o in overrides if "=" in o]):
        key = o.key_or_group
        keys.add(key)
        if key == "sae":
            keys.add("sae.arch")
    return keys


def compose(overrides: list[str] | tuple[str, ...] = (), stage: str = "none") -> DictConfig:
    """The config a stage would get from `causalgear STAGE overrides...`, for tests and notebooks."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_configs()
    with initialize_config_dir(version_base=None, config_dir=str(CONF_DIR)):
        return hydra_compose("config", overrides=[*overrides, f"stage={stage}"])


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


def _groups(cfg: DictConfig) -> dict[str, Any]:
    """Each group's node by the key its errors name: `transfer.NAME` data configs report under it."""
    groups = {name: cfg[name] for name in cfg if name not in ("transfer", "trainer", "stage", "seed")}
    return groups | {f"transfer.{name}": node for name, node in (cfg.get("transfer") or {}).items()}


def check_values(cfg: DictConfig) -> None:
    """Every value checked without the disk: unknown keys, non-finite numbers, each group's ranges."""
    _unknown_keys(cfg, "")
    _finite_numbers(cfg, "")
    for where, node in _groups(cfg).items():
        if not isinstance(node, DictConfig) or not dataclasses.is_dataclass(OmegaConf.get_type(node)):
            continue
        try:
            OmegaConf.to_object(node)
        except MissingMandatoryValue as err:
            raise ConfigError(f"{where}.{err.full_key}".rstrip("."), "???", "a value (it has no default)") from None
        except ConfigError as err:
            group = err.key.split(".", 1)[0]
            if not where.startswith("transfer."):
                raise
            raise ConfigError(where + err.key[len(group):], err.value, err.allowed) from None


def check_device(cfg: DictConfig) -> None:
    """CUDA asked for where none is visible: one line naming the key that asks, before any work."""
    import torch

    if torch.cuda.is_available():
        return
    trainer = "cpu, or device=auto with the default trainer (trainer=gpu and trainer=ddp need one)"
    asked = (("device", cfg.device, "auto or cpu"), ("model.device", cfg.model.device, "auto or cpu"),
             ("trainer.accelerator", (cfg.trainer or {}).get("accelerator"), trainer))
    for key, value, allowed in asked:
        if str(value) in ("cuda", "gpu"):
            raise ConfigError(key, str(value), f"{allowed}: no CUDA device is visible here")


def validate(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> None:
    """Every check, cheap: no model is loaded. `overrides`: the command line's, so that a key the
    user set can be told from a default."""
    from causalgear.data.sources import source
    from causalgear.models.depth import check_layers
    from causalgear.sae import registry
    from causalgear.sae.paths import check_shape_overrides, sae_dir
    from causalgear.steering import methods as steering_methods

    check_values(cfg)
    check_device(cfg)
    check_layers(cfg.model, cfg.harvest)
    data = source(cfg.data)
    data.check()
    for name, target_cfg in (cfg.get("transfer") or {}).items():
        target = source(target_cfg)
        if target.unavailable() is None:  # one that cannot be found is skipped, and evaluate says why
            target.check(f"transfer.{name}")
    if cfg.stage in HARVESTING_STAGES:  # `data` or `accuracy` on a Spider copy without its train file is fine
        data.check_split("harvest.split", cfg.harvest.split)
    if cfg.steering.target.split not in (None, "auto", "handles"):
        data.check_split("steering.target.split", cfg.steering.target.split)
    steering_methods.check(cfg.steering)
    if cfg.sae.path is not None and sae_dir(cfg.sae.path) is None:
        raise ConfigError("sae.path", cfg.sae.path, "a train run dir (holding sae/cfg.json) or an SAE dir")
    if cfg.sae.path is not None and cfg.stage in SAE_READING_STAGES:
        check_shape_overrides(cfg.sae, explicit_keys(overrides))  # the `sae` group's own shape is not used
    else:
        registry.check(cfg.sae, explicit_keys(overrides))


def load_workbench(run_dir: str | Path, *overrides: str, stage: str = "steer") -> Workbench:
    """The workbench of a pipeline run dir: the config its command line gave (`.hydra/overrides.yaml`),
    then `overrides`, with its SAE (`train/`) and its model, store and splits; e.g.
    `load_workbench("outputs/pipeline/DATE/TIME")` in a notebook."""
    from causalgear.errors import CausalgearError
    from causalgear.workbench import Workbench

    run = Path(run_dir)
    if not (run / "train").is_dir():
        raise CausalgearError(f"{run} has no train/: a pipeline run dir holds the SAE it trained there")
    saved = run / ".hydra" / "overrides.yaml"
    given = [str(o) for o in OmegaConf.load(saved)] if saved.is_file() else []
    given = [o for o in given if not o.startswith(("stage=", "hydra.", "sae.path="))]
    line = [*given, f"sae.path={run / 'train'}", *overrides]
    cfg = compose(line, stage=stage)
    validate(cfg, line)
    return Workbench.load(cfg, stage)
