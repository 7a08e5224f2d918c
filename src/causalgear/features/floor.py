"""The floor: the same SAE recipe trained on a randomly initialised copy of the model (same
architecture, tokenizer and data), scored against the same concepts. What a dictionary finds
there comes from the tokens alone, not from anything the model learned (Karvonen et al. 2024)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch

from causalgear.features.dictionary import concept_matrix, labelled_rows, score_dictionary
from causalgear.features.references import random_copy
from causalgear.harvest.run import harvest_into, select_examples
from causalgear.harvest.store import ActivationStore
from causalgear.logs import quiet_lightning
from causalgear.sae import registry
from causalgear.sae.module import ActivationDataModule, SAEModule, is_train, is_validation
from causalgear.seeds import seed_for

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


def random_model_floor(bench: Workbench, concepts: list[str], out_dir: Path, n_examples: int, fit_rows: int) -> dict:
    start = time.monotonic()
    cfg = bench.cfg
    init_seed = seed_for(cfg.seed, "random-weight model")
    model = random_copy(bench.model, init_seed)
    examples = select_examples(cfg)[:n_examples]
    path = out_dir / "floor_store"
    shutil.rmtree(path, ignore_errors=True)
    harvest_into(path, cfg, model, bench.tokenizer, examples, "random-model-floor", {"random_init_seed": init_seed},
                 progress=False)
    store = ActivationStore(path)
    quiet_lightning()
    torch.manual_seed(cfg.seed)
    sae = registry.build(cfg.sae, store.d_in)
    trainer = L.Trainer(max_epochs=cfg.sae.epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.fit(SAEModule(sae, sae.coefficients(cfg.sae), cfg.sae.lr),
                datamodule=ActivationDataModule(store, cfg.sae.batch_size, cfg.sae.buffer_rows, cfg.seed,
                                                cfg.sae.steps_per_chunk))
    sae.eval().fold_scale(float(store.scale))
    x_fit, m_fit, _ = labelled_rows(store, is_train, fit_rows, cfg.seed)
    x_held, m_held, _ = labelled_rows(store, is_validation, fit_rows, cfg.seed)
    with torch.no_grad():
        z_fit, z_held = sae.encode(x_fit), sae.encode(x_held)
    scored = score_dictionary(z_fit, concept_matrix(m_fit, concepts), z_held, concept_matrix(m_held, concepts),
                              concepts)
    shutil.rmtree(path, ignore_errors=True)
    return {"coverage": scored["coverage"], "dead_fraction": scored["dead_fraction"],
            "dense_fraction": scored["dense_fraction"], "examples": len(examples), "rows": store.n_rows,
            "per_concept_f1": {c: v["f1"] for c, v in scored["per_concept"].items()},
            "seconds": round(time.monotonic() - start, 1)}
