"""The embedded model's recipe as a cache key, read without torch: where a recipe's model lives
(`embedded_dir`) and what its card is called, so that a stage's input checks find the card in
seconds, before the model code is imported (`causalgear.inputs`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from causalgear.config import TinySQLDataConfig
from causalgear.data import multitable, tinysql
from causalgear.io import cache_key

BUILDER_VERSION = 1
CARD = "model_card.json"


def training_data_cfg(build) -> TinySQLDataConfig:
    """TinySQL with the default generator settings, so that the model card's test split is the
    one `data=tinysql` evaluates on (held-out splits do not depend on the train size)."""
    return OmegaConf.structured(TinySQLDataConfig(seed=0, n_train_per_set=build.train_examples_per_set))


def multitable_data(build) -> tuple[int, int, float]:
    """(seed, train examples per set, made-up share) of the multi-table data a recipe reads; a recipe
    without multi-table training data still reads its test split, so at least one per set."""
    return (build.seed, max(1, build.get("multitable_examples_per_set", 0)),
            build.get("multitable_made_up", multitable.MADE_UP))


# recipe fields added after models were built and cached: at these values they leave the key as it
# was, so a cached model is not rebuilt for a field that does not change it
ADDED_FIELDS = {"multitable_examples_per_set": 0, "multitable_made_up": multitable.MADE_UP, "tinysql_final_steps": 0}


def embedded_key(model_cfg) -> str:
    build = model_cfg.build
    recipe = OmegaConf.to_container(build, resolve=True)
    recipe = {k: v for k, v in recipe.items() if k not in ADDED_FIELDS or v != ADDED_FIELDS[k]}
    blob = {"recipe": recipe, "data": tinysql.data_key(training_data_cfg(build)), "version": BUILDER_VERSION}
    if build.get("multitable_examples_per_set"):  # a new multi-table generator is a new model
        blob["multitable_data"] = multitable.data_key(*multitable_data(build))
    return cache_key(blob)


def embedded_dir(model_cfg, cache_dir: str | Path) -> Path:
    return Path(cache_dir).expanduser() / "models" / f"{model_cfg.name}-{embedded_key(model_cfg)}"
