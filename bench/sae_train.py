"""SAE training throughput, side by side in one process (never a timed test).

The same SAE and the same activation rows through (1) Lightning's Trainer with our
LightningModule and DataModule, (2) a bare PyTorch loop doing the same steps, and (3) when the
`bench` extra is installed, SAELens' standard SAE trainer fed the same rows. Ends with one
JSON line: lightning_rows_per_s, bare_rows_per_s, lightning_vs_bare, saelens_rows_per_s (null
when sae-lens is absent), ours_vs_saelens; with SAELens, also ours_relu_rows_per_s (our Lightning
path on SAELens' architecture and size) and bare_relu_rows_per_s (that step with no trainer
around it: the most any trainer could reach).

This machine's speed drifts by 10-20% within one process, so each comparison runs `--runs`
rounds of both sides next to each other (ABBA order); a ratio is the median of the rounds'
ratios, with the smallest and largest beside it (`*_min`, `*_max`), and rows/s are medians.

  python bench/sae_train.py                 # embedded model's cached activations, deep_relu
  python bench/sae_train.py sae=relu sae.d_sae=512 --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from bench_common import synchronize


def bare_loop(sae, batches, sae_cfg, device: str = "cpu") -> float:
    """Rows per second of the plain loop: the trainer's own step (SAEModule.losses) with no trainer
    around it; batches come from host memory, as Lightning's do."""
    from causalgear.sae.module import SAEModule, make_adam

    sae = sae.to(device)
    step = SAEModule(sae, sae.coefficients(sae_cfg), sae_cfg.lr).to(device)
    opt = make_adam(sae.parameters(), sae_cfg.lr)  # the optimizer the Lightning module uses
    rows = 0
    synchronize(device)
    start = time.perf_counter()
    for x in batches:
        x = x.to(device, non_blocking=True)
        loss = step.losses(x)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sae.post_step()
        rows += len(x)
    synchronize(device)
    return rows / (time.perf_counter() - start)


def lightning_loop(sae, store, cfg, epochs: int, device: str = "cpu") -> float:
    import lightning as L

    from causalgear.logs import quiet_lightning

    quiet_lightning()
    from causalgear.sae.module import ActivationDataModule, SAEModule

    module = SAEModule(sae, sae.coefficients(cfg.sae), cfg.sae.lr)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        accelerator="gpu" if device == "cuda" else "cpu", devices=1)
    start = time.perf_counter()
    data = ActivationDataModule(store, cfg.sae.batch_size, cfg.sae.buffer_rows, cfg.seed, cfg.sae.steps_per_chunk)
    trainer.fit(module, datamodule=data)
    return int(module.rows_seen) / (time.perf_counter() - start)


def saelens_loop(d_in: int, d_sae: int, batches, l1_coeff: float, lr: float, device: str = "cpu") -> float | None:
    """SAELens' own trainer (SAETrainer + StandardTrainingSAE) fed the same batches."""
    try:
        from sae_lens import StandardTrainingSAE, StandardTrainingSAEConfig
        from sae_lens.config import LoggingConfig, SAETrainerConfig
        from sae_lens.training.sae_trainer import SAETrainer
    except ImportError:
        return None
    import itertools

    sae = StandardTrainingSAE(StandardTrainingSAEConfig(d_in=d_in, d_sae=d_sae, l1_coefficient=l1_coeff,
                                                        dtype="float32", device=device))
    n_rows = sum(len(b) for b in batches)
    cfg = SAETrainerConfig(total_training_samples=n_rows, train_batch_size_samples=len(batches[0]), lr=lr, lr_end=lr,
                           device=device, logger=LoggingConfig(log_to_wandb=False))
    trainer = SAETrainer(cfg=cfg, sae=sae, data_provider=(b.to(device) for b in itertools.cycle(batches)))
    synchronize(device)
    start = time.perf_counter()
    trainer.fit()
    synchronize(device)
    return trainer.n_training_samples / (time.perf_counter() - start)


def paired(runs: int, first, second) -> tuple[list[float], list[float]]:
    """`runs` rounds of both, in ABBA order (this machine drifts within a process), so each
    round's ratio compares two runs made next to each other."""
    a, b = [], []
    for i in range(runs):
        if i % 2 == 0:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
    return a, b


def ratio_of(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """The median of the rounds' ratios a/b, and the smallest and largest."""
    ratios = sorted(x / y for x, y in zip(a, b, strict=True))
    return statistics.median(ratios), ratios[0], ratios[-1]


def main(argv: list[str]) -> None:
    from omegaconf import OmegaConf

    from causalgear.harvest.run import ensure_store
    from causalgear.harvest.store import ShuffledBatches
    from causalgear.preflight import compose
    from causalgear.sae import registry
    from causalgear.sae.module import is_train

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="rounds of each pair (default 3)")
    args, overrides = parser.parse_known_args(argv)
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: at least 1")
    cfg = compose(overrides)
    store, _ = ensure_store(cfg, progress=False)
    epochs = 2
    batches = [b for _ in range(epochs)
               for b in ShuffledBatches(store, cfg.sae.batch_size, seed=cfg.seed, select=is_train)]
    torch.manual_seed(0)
    light, bare = paired(args.runs, lambda: lightning_loop(registry.build(cfg.sae, store.d_in), store, cfg, epochs),
                         lambda: bare_loop(registry.build(cfg.sae, store.d_in), batches, cfg.sae))
    result = {"arch": cfg.sae.arch, "d_in": store.d_in, "rows": len(batches) * cfg.sae.batch_size, "runs": args.runs,
              "lightning_rows_per_s": statistics.median(light), "bare_rows_per_s": statistics.median(bare)}
    result["lightning_vs_bare"], result["lightning_vs_bare_min"], result["lightning_vs_bare_max"] = ratio_of(light,
                                                                                                           bare)
    d_sae = cfg.sae.d_sae
    relu_cfg = OmegaConf.merge(cfg, {"sae": {"arch": "relu", "d_sae": d_sae, "k": None}})
    result.update(d_sae=d_sae, saelens_rows_per_s=None, ours_relu_rows_per_s=None, bare_relu_rows_per_s=None,
                  ours_vs_saelens=None)
    # a short untimed SAELens run first: its first call pays one-time set-up, which ours paid above
    if saelens_loop(store.d_in, d_sae, batches[:8], cfg.sae.l1_coeff, cfg.sae.lr) is not None:  # installed
        # the same architecture and size as SAELens' standard SAE, through our Lightning path
        ours, theirs = paired(args.runs,
                              lambda: lightning_loop(registry.build(relu_cfg.sae, store.d_in), store, relu_cfg, epochs),
                              lambda: saelens_loop(store.d_in, d_sae, batches, cfg.sae.l1_coeff, cfg.sae.lr))
        # the ceiling of any trainer for this step: our relu step with no trainer around it
        bare_relu = [bare_loop(registry.build(relu_cfg.sae, store.d_in), batches, relu_cfg.sae)
                     for _ in range(args.runs)]
        result.update(saelens_rows_per_s=statistics.median(theirs), ours_relu_rows_per_s=statistics.median(ours),
                      bare_relu_rows_per_s=statistics.median(bare_relu))
        result["ours_vs_saelens"], result["ours_vs_saelens_min"], result["ours_vs_saelens_max"] = ratio_of(ours,
                                                                                                         theirs)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
