"""The workbench: what every causal stage works on, loaded once from the config.

Model, tokenizer, the SAE and its (layer, site), the activation store, the SAE's code
statistics over it, and the seeded held-out splits. `evaluate`, `steer`, `serve`, the pipeline
and the bench scripts are thin functions over one; the pipeline builds one and hands it (and
evaluate's result) from stage to stage in memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from omegaconf import DictConfig, open_dict

from causalgear.data.examples import Example
from causalgear.data.sqlexec import budget_of
from causalgear.errors import CausalgearError
from causalgear.harvest.run import ensure_store, harvest_layer
from causalgear.harvest.store import ActivationStore
from causalgear.io import read_json
from causalgear.models.accuracy import Runner
from causalgear.models.loading import load_model
from causalgear.models.site import Site
from causalgear.sae.base import SparseAutoencoder
from causalgear.sae.code_stats import coordinate_stats
from causalgear.sae.io import load_sae, verified
from causalgear.sae.paths import sae_dir


@dataclass
class HeldOut:
    """A split's seeded selection / test halves: a choice made on `select` is reported on `test`."""

    split: str
    select: list[Example]
    test: list[Example]
    pool: list[Example]


def held_out(examples: list[Example], split: str, n_select: int, n_test: int, seed: int) -> HeldOut:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    select = [examples[i] for i in order[:n_select]]
    test = [examples[i] for i in order[n_select:n_select + n_test]]
    if not test:
        raise CausalgearError(f"split {split!r} has {len(examples)} examples: too few for "
                              f"causal.n_select={n_select} plus a test split")
    return HeldOut(split, select, test, examples)


def require_sae_path(cfg: DictConfig, stage: str) -> None:
    if cfg.sae.path is None:
        raise CausalgearError(f"sae.path is not set: point it at a `causalgear train` run dir, e.g. "
                              f"causalgear {stage} sae.path=outputs/train/DATE/TIME")


@dataclass
class Workbench:
    cfg: DictConfig
    model: torch.nn.Module
    tokenizer: object
    sae: SparseAutoencoder
    sae_cfg: dict
    sae_path: str
    site: Site
    store: ActivationStore
    _splits: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, cfg: DictConfig, stage: str) -> Workbench:
        """Everything `stage` works on, from `cfg` (the SAE from `sae.path`)."""
        require_sae_path(cfg, stage)
        path = sae_dir(cfg.sae.path)
        sae, sae_cfg = load_sae(path)
        ours = sae_cfg.get("causalgear", {})  # the (layer, site) it was trained on; the config's where it does not say
        layer, kind = ours.get("layer", harvest_layer(cfg)), ours.get("site", cfg.harvest.site)
        model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
        sae = sae.to(next(model.parameters()).device).requires_grad_(False)
        with open_dict(cfg):  # an SAE loaded from a path keeps its own shape (validate refused a contradiction)
            cfg.sae.arch, cfg.sae.d_sae, cfg.sae.k = sae.arch, sae.d_sae, (sae.k if sae.uses_k else None)
            # and its own site: its code statistics are taken over the activations it reads, also where
            # model.layer names another block (an SAE trained before the default site moved)
            cfg.harvest.layer, cfg.harvest.site = layer, kind
        store, _ = ensure_store(cfg)
        return cls(cfg, model, tokenizer, sae, sae_cfg, str(path), Site(model, layer, kind), store)

    def with_sae(self, path: str, seed: int) -> Workbench:
        """The same model, store and held-out splits with another SAE of the same shape and site (one
        trained with SAE seed `seed` from the same harvest): its statistics and its random twin its own."""
        from causalgear.seeds import sae_seed

        if sae_seed(self.cfg) == seed:
            raise CausalgearError(f"SAE seed {seed} is this workbench's own SAE's; another seed makes another SAE")
        found = sae_dir(path)
        sae, sae_cfg = load_sae(found)
        cfg = self.cfg.copy()
        with open_dict(cfg):
            cfg.sae.path, cfg.sae.seed = str(path), seed
        sae = sae.to(next(self.model.parameters()).device).requires_grad_(False)
        return Workbench(cfg, self.model, self.tokenizer, sae, sae_cfg, str(found), self.site, self.store,
                         self._splits)

    @cached_property
    def card(self) -> dict:
        """The model card beside the loaded weights (`model_card.json`), read from where the model was
        loaded; empty for a model without one (a hub id, a directory with no card)."""
        path = Path(self.model.config.name_or_path) / "model_card.json"
        return read_json(path, f"delete {path.parent} to rebuild the model") if path.is_file() else {}

    @property
    def sae_verified(self) -> bool:
        """Whether the SAE's weights matched the sha256 in its cfg.json (False: it records none)."""
        return verified(self.sae_cfg)

    @cached_property
    def stats(self) -> dict[str, torch.Tensor]:
        """Firing rate, mean and mean active value of every code over the harvest."""
        return coordinate_stats(self.sae, self.store)

    @cached_property
    def twin(self) -> SparseAutoencoder:
        """The SAE's frozen random-weight twin (`sae.random_twin`), drawn once from the SAE's seed (each
        SAE seed its own twin): the control every SAE figure stands beside."""
        from causalgear.sae.random_twin import random_twin
        from causalgear.seeds import sae_seed, seed_for

        return random_twin(self.sae, seed_for(sae_seed(self.cfg), "random SAE"))

    @cached_property
    def twin_stats(self) -> dict[str, torch.Tensor]:
        """The twin's code statistics over the harvest, measured as the SAE's are (`stats`)."""
        return coordinate_stats(self.twin, self.store)

    @cached_property
    def budget(self):
        return budget_of(self.cfg.exec)

    @cached_property
    def source(self):
        """The data set (`causalgear.data.sources`): its splits, and what it supports."""
        from causalgear.data.sources import of

        return of(self.cfg)

    def splits(self, split: str | None = None) -> HeldOut:
        """The held-out halves of `split` (default: data.eval_split), shared by every causal stage."""
        split = split or self.cfg.data.eval_split
        if split not in self._splits:
            c = self.cfg.causal
            self._splits[split] = held_out(self.source.load(split), split, c.n_select, c.n_test, self.cfg.seed)
        return self._splits[split]

    def runner(self, examples: list[Example], generation=None, data=None) -> Runner:
        """Execution accuracy of `examples`, unedited or under an intervention, decoded as the data
        config they come from says (`data`, default: `data`)."""
        from causalgear.models.constrain import schema_decoding

        return Runner(self.model, self.tokenizer, examples, generation or self.cfg.generation, self.budget,
                      schema_decoding=schema_decoding(data if data is not None else self.cfg.data))

