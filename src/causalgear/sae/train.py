"""`causalgear train`: an SAE on the (cached) activation store, with Lightning, CSV and W&B."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from causalgear.data.loading import load_split
from causalgear.harvest.run import ensure_store, harvest_layer
from causalgear.io import write_json
from causalgear.logs import is_terminal, quiet_lightning
from causalgear.report.plots import density_histogram, loss_curves
from causalgear.sae import registry
from causalgear.sae.checkpoint import ResumableCSVLogger, ResumeCheckpoint
from causalgear.sae.io import save_sae
from causalgear.sae.metrics import ReconstructionStats, ce_losses
from causalgear.sae.module import VAL_EVERY, ActivationDataModule, SAEModule, is_validation
from causalgear.seeds import sae_seed


def run_names(cfg: DictConfig) -> tuple[str, str]:
    """(group, name): a multirun's jobs share a group; the name carries λ and k."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    name = f"{cfg.sae.arch}-l1_{cfg.sae.l1_coeff:g}-d_sae_{cfg.sae.d_sae}" + (f"-k_{cfg.sae.k}" if cfg.sae.k else "")
    group = "single"
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            group = "sweep-" + Path(hc.sweep.dir).as_posix().replace("/", "_").removeprefix("multirun_")
            name = f"{hc.job.num}-{name}"
    return group, name


def wandb_mode(cfg: DictConfig) -> str:
    if not cfg.logger.wandb or cfg.logger.mode == "disabled":
        return "disabled"
    if cfg.logger.mode == "auto":
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return cfg.logger.mode


def make_loggers(cfg: DictConfig, out_dir: Path, resume_step: int | None = None):
    loggers = [ResumableCSVLogger(out_dir, name="", version="csv", resume_step=resume_step)]
    mode = wandb_mode(cfg)
    if mode != "disabled":
        from lightning.fabric.utilities.rank_zero import rank_zero_only
        from lightning.pytorch.loggers import WandbLogger

        group, name = run_names(cfg)
        os.environ.setdefault("WANDB_SILENT", "true")
        experiment = None
        if rank_zero_only.rank == 0:
            # the run is started here rather than by WandbLogger, which passes wandb an `anonymous`
            # setting that wandb warns it ignores; `create_new`: outside a notebook wandb would hand
            # back a run still open in this process (a caller's own, or an earlier failed train's)
            import wandb

            experiment = wandb.init(project=cfg.logger.project, entity=cfg.logger.entity, group=group, name=name,
                                    dir=str(out_dir), mode=mode, config=OmegaConf.to_container(cfg, resolve=True),
                                    reinit="create_new")
        loggers.append(WandbLogger(experiment=experiment, save_dir=str(out_dir), mode=mode))
    return loggers


def validation_stats(sae, store, batch_size: int = 4096, normalize: bool = True) -> ReconstructionStats:
    """Reconstruction statistics on the validation rows. `normalize=False` for a saved SAE, whose
    weights have the activation scale folded in."""
    from causalgear.harvest.store import ShuffledBatches

    stats = ReconstructionStats(sae.d_sae)
    with torch.no_grad():
        for x in ShuffledBatches(store, batch_size, select=is_validation, shuffle=False, normalize=normalize):
            z = sae.encode(x)
            stats.update(x, sae.decode(z), z)
    return stats


def refuse_relaunching_strategy_in_a_sweep(cfg: DictConfig) -> None:
    """Lightning's `ddp` starts each further rank by running the command line again: inside a
    Hydra multirun that line holds `-m` and the whole sweep, which every rank would start over."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from causalgear.config import ConfigError

    strategy = str(cfg.trainer.get("strategy", ""))
    relaunches = strategy.startswith("ddp") and not strategy.startswith(("ddp_spawn", "ddp_fork", "ddp_notebook"))
    if relaunches and HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ConfigError("trainer.strategy", strategy, "one process per job under -m (multirun): run DDP jobs one "
                          "at a time, or give each job its own machine through a Hydra launcher")


def checkpoint_step(path: Path) -> int | None:
    """The optimizer step a checkpoint was saved at, or None where there is none to resume."""
    if not path.is_file():
        return None
    return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])


def train(cfg: DictConfig, out_dir: Path) -> dict:
    refuse_relaunching_strategy_in_a_sweep(cfg)
    quiet_lightning()
    seed = sae_seed(cfg)
    torch.manual_seed(seed)
    store, hit = ensure_store(cfg)
    print(f"activations: {'cache hit' if hit else 'harvested'} {store.path} ({store.n_rows} rows, d_in {store.d_in})")
    sae = registry.build(cfg.sae, store.d_in)
    module = SAEModule(sae, sae.coefficients(cfg.sae), cfg.sae.lr)
    data = ActivationDataModule(store, cfg.sae.batch_size, cfg.sae.buffer_rows, seed, cfg.sae.steps_per_chunk)
    resume = out_dir / "checkpoints" / "last.ckpt"
    resume_step = checkpoint_step(resume)  # decided before fit, which writes its own last.ckpt
    resumed = resume_step is not None
    loggers = make_loggers(cfg, out_dir, resume_step)
    try:
        metrics = _fit_and_save(cfg, out_dir, sae, module, data, store, loggers, resume, resumed)
    except BaseException:
        finish_wandb(loggers, exit_code=1)  # marked failed, and no later train in this process inherits it
        raise
    finish_wandb(loggers, summary={k: v for k, v in metrics.items() if isinstance(v, int | float | str)})
    print(f"explained variance {metrics['explained_variance']:.4f}, L0 {metrics['l0']:.2f}, "
          f"density {metrics['density']:.4f}, dead {metrics['dead_fraction']:.3f}, "
          f"CE recovered {metrics['ce_loss_recovered']:.3f}, {metrics['train_seconds']}s")
    return metrics


def finish_wandb(loggers: list, summary: dict | None = None, exit_code: int = 0) -> None:
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            if summary:
                lg.experiment.summary.update(summary)
            lg.experiment.finish(exit_code=exit_code)


def _fit_and_save(cfg: DictConfig, out_dir: Path, sae, module: SAEModule, data: ActivationDataModule, store,
                  loggers: list, resume: Path, resumed: bool) -> dict:
    layer, site = harvest_layer(cfg), cfg.harvest.site
    trainer = instantiate(cfg.trainer, max_epochs=cfg.sae.epochs, logger=loggers, default_root_dir=str(out_dir),
                          enable_checkpointing=False, enable_progress_bar=is_terminal(),
                          callbacks=[ResumeCheckpoint(resume, every_n_steps=cfg.sae.checkpoint_every_steps)])
    start = time.monotonic()
    trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resumed else None)
    train_seconds = time.monotonic() - start
    if trainer.global_rank > 0:
        # a further DDP rank: Lightning's launcher started this process for fit alone, and the
        # rank-zero process writes the metrics, the SAE and the plots (and goes on to later stages)
        raise SystemExit(0)

    sae.eval()
    stats = validation_stats(sae, store)
    metrics = {"arch": cfg.sae.arch, "d_in": sae.d_in, "d_sae": sae.d_sae, "l1_coeff": cfg.sae.l1_coeff,
               "k": cfg.sae.k, "layer": layer, "site": site, "seed": sae_seed(cfg), **stats.compute(),
               "train_seconds": round(train_seconds, 1), "rows_seen": int(module.rows_seen),
               "steps": trainer.global_step, "resumed": resumed,
               "store": str(store.path)}
    density = stats.feature_density()
    sae.fold_scale(float(store.scale))  # the saved SAE reads raw activations
    save_sae(sae, out_dir / "sae", layer=layer, site=site, model_name=cfg.model.name,
             extra={"l1_coeff": cfg.sae.l1_coeff, "store": str(store.path)})
    torch.save(density, out_dir / "sae" / "feature_density.pt")

    from causalgear.models.loading import load_model

    model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
    by_id = {e.id: e for e in load_split(cfg, cfg.harvest.split)}
    val_examples = [by_id[e["id"]] for e in store.examples() if e["index"] % VAL_EVERY == 0][: cfg.sae.ce_examples]
    metrics.update(ce_losses(model, tokenizer, sae, val_examples, layer, site))

    write_json(out_dir / "metrics.json", metrics)
    density_histogram(density, out_dir / "feature_density.png", f"{metrics['arch']} λ={cfg.sae.l1_coeff:g}")
    loss_curves(out_dir / "csv" / "metrics.csv", out_dir / "loss_curves.png")
    return metrics
