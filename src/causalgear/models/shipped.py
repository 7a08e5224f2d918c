"""The embedded models that ship with causalgear, each verified against the sha256 sums beside it.

A recipe trained in floating point builds a different model on each processor's kernels, and the
findings move with the model. So the build that docs/results.md describes ships with the package
(`weights/<name>-<key>/`, its sums in `weights/<name>-<key>.sha256`, the format `sha256sum -c`
reads), and every stage uses it wherever the recipe's key matches (`model.use_shipped`, default
true). `causalgear build-model model.use_shipped=false` builds from the recipe instead and compares
its card with the shipped one (`card_differences`). Nothing here imports torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from causalgear.errors import ModelLoadError
from causalgear.io import sha256_file
from causalgear.models.recipe import CARD, embedded_dir, embedded_key

# a folder of shipped models in the same layout, in place of the package's own (tests plant one)
ROOT_ENV = "CAUSALGEAR_SHIPPED_MODELS"
REMEDY = ("reinstall causalgear (`pip install -e .` in its checkout) to restore it, or build the model from its "
          "recipe: causalgear build-model model.use_shipped=false")

_verified: set[Path] = set()


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or Path(__file__).with_name("weights"))


def entry(model_cfg) -> str:
    """The name a recipe's model has in the cache and among the shipped models."""
    return f"{model_cfg.name}-{embedded_key(model_cfg)}"


def sums_path(directory: Path) -> Path:
    return directory.with_name(f"{directory.name}.sha256")


def read_sums(directory: Path) -> dict[str, str]:
    """{file name: sha256} as recorded beside a shipped model's folder."""
    path = sums_path(directory)
    sums = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"the sums of the shipped model, {path}, cannot be read ({err}); {REMEDY}") from None
    for line in filter(str.strip, lines):
        digest, _, name = line.strip().partition("  ")
        if len(digest) != 64 or not name or "/" in name:
            raise ModelLoadError(f"the sums of the shipped model, {path}, are damaged (line {line[:80]!r}); {REMEDY}")
        sums[name] = digest
    if "config.json" not in sums:
        raise ModelLoadError(f"the sums of the shipped model, {path}, list no config.json; {REMEDY}")
    return sums


def shipped_dir(model_cfg) -> Path | None:
    """The shipped copy of this recipe's model, where there is one and the config uses it."""
    if model_cfg.name_or_path != "embedded" or not model_cfg.get("use_shipped", True):
        return None
    directory = root() / entry(model_cfg)
    return directory if sums_path(directory).is_file() else None


def model_dir(model_cfg, cache_dir: str | Path) -> Path:
    """Where a recipe's model is read from: the shipped copy, else the cache (built there on first use)."""
    return shipped_dir(model_cfg) or embedded_dir(model_cfg, cache_dir)


def verify(directory: Path) -> Path:
    """`directory`, once each file its sums list is there and has its recorded sha256 (checked once
    per process); else one ModelLoadError naming the file and what to do."""
    if directory in _verified:
        return directory
    for name, digest in read_sums(directory).items():
        path = directory / name
        if not path.is_file():  # missing, or not a regular file (never opened: a FIFO would block)
            raise ModelLoadError(f"shipped model file {path} is missing; {REMEDY}")
        if sha256_file(path) != digest:
            raise ModelLoadError(f"shipped model file {path} is damaged (its sha256 is not the one recorded in "
                                 f"{sums_path(directory)}); {REMEDY}")
    _verified.add(directory)
    return directory


def shipped_of_name(name: str, key: str) -> Path | None:
    """The shipped model to compare a build of recipe `key` with: the same recipe's, else the only
    shipped model of that name (a changed recipe of the default is compared with the default)."""
    same = root() / f"{name}-{key}"
    if sums_path(same).is_file():
        return same
    others = sorted(root().glob(f"{name}-*.sha256"))
    return others[0].with_suffix("") if len(others) == 1 else None


@dataclass(frozen=True)
class CardFigure:
    """One accuracy of a model card (a split's command set, or its mean) in two builds."""

    split: str
    group: str
    shipped: float | None
    built: float | None

    @property
    def delta(self) -> float | None:
        return None if self.shipped is None or self.built is None else self.built - self.shipped


def _figures(card: dict) -> dict[tuple[str, str], float]:
    out = {}
    for key, value in card.items():
        if key.endswith("_accuracy") and isinstance(value, dict):
            split = key.removesuffix("_accuracy")
            out.update({(split, group): v for group, v in value.items()})
            if isinstance(card.get(f"{key}_mean"), float | int):
                out[(split, "mean")] = card[f"{key}_mean"]
    spider = card.get("spider_tinysql")
    if isinstance(spider, dict) and "accuracy" in spider:
        out[("spider_tinysql", "all")] = spider["accuracy"]
        out.update({("spider_tinysql", g): r["accuracy"] for g, r in spider.get("by_group", {}).items()})
    return out


def card_differences(built: dict, shipped: dict) -> list[CardFigure]:
    """Every accuracy either card reports, split by split, in the built card's order."""
    ours, theirs = _figures(built), _figures(shipped)
    keys = list(ours) + [k for k in theirs if k not in ours]
    return [CardFigure(split, group, theirs.get((split, group)), ours.get((split, group))) for split, group in keys]


def describe_differences(figures: list[CardFigure]) -> list[str]:
    """One line a split: 'equal' where every figure is, else each figure that differs and by how much."""
    lines, splits = [], list(dict.fromkeys(f.split for f in figures))
    for split in splits:
        rows = [f for f in figures if f.split == split]
        differ = [f for f in rows if f.shipped != f.built]
        if not differ:
            lines.append(f"  {split}: equal ({len(rows)} figures)")
            continue
        parts = [f"{f.group} {_figure(f.shipped)} -> {_figure(f.built)}"
                 + (f" ({f.delta:+.3f})" if f.delta is not None else "") for f in differ]
        lines.append(f"  {split}: " + ", ".join(parts))
    return lines


def _figure(value: float | None) -> str:
    return "absent" if value is None else f"{value:.3f}"


def compare_with_shipped(built_dir: Path, model_cfg) -> dict | None:
    """What `build-model` says of a build from the recipe: how its card and weights compare with
    the shipped model's, `figures` a list of CardFigure (None where no shipped model of this name
    exists)."""
    import json

    shipped = shipped_of_name(model_cfg.name, embedded_key(model_cfg))
    if shipped is None:
        return None
    built_card = json.loads((built_dir / CARD).read_text())
    shipped_card = json.loads((verify(shipped) / CARD).read_text())
    figures = card_differences(built_card, shipped_card)
    weights = read_sums(shipped).get("model.safetensors")
    return {"shipped": str(shipped), "same_recipe": shipped.name == built_dir.name,
            "built_on": built_card.get("built_on"), "shipped_built_on": shipped_card.get("built_on"),
            "identical_weights": weights is not None and sha256_file(built_dir / "model.safetensors") == weights,
            "n_figures": len(figures), "n_differ": sum(f.shipped != f.built for f in figures), "figures": figures}
