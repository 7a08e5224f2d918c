"""Training through Lightning: the stage's outputs, resume from a checkpoint, offline W&B."""

import json

import lightning as L
import pytest
import torch

from causalgear.config import compose
from causalgear.harvest.run import ensure_store
from causalgear.sae.base import build_sae
from causalgear.sae.module import ActivationDataModule, SAEModule
from causalgear.sae.train import train

SMALL = ["data.n_train_per_set=80", "data.n_validation_per_set=5", "data.n_test_per_set=5",
         "data.n_test_ood_per_set=5", "data.n_schemas=20", "harvest.max_examples=200", "harvest.shard_tokens=2000"]


def tiny_overrides(model_dir, cache, *extra) -> list[str]:
    return ["model=hf", f"model.name_or_path={model_dir}", "model.layer=1", f"paths.cache_dir={cache}", "sae=relu",
            "sae.k=64", "sae.batch_size=128", "sae.epochs=2", "sae.ce_examples=16", *SMALL, *extra]


def tiny_cfg(model_dir, cache, *extra):
    return compose(tiny_overrides(model_dir, cache, *extra))


def test_train_writes_metrics_checkpoint_and_plots(tiny_qwen2_dir, tmp_path):
    cfg = tiny_cfg(tiny_qwen2_dir, tmp_path / "cache", "logger=none")
    out = tmp_path / "run"
    out.mkdir()
    metrics = train(cfg, out)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("mse", "fvu", "explained_variance", "l0", "density", "dead_fraction", "ce_loss_clean",
                "ce_loss_spliced", "ce_loss_zero", "ce_loss_recovered", "arch", "d_in", "d_sae", "l1_coeff", "k",
                "train_seconds", "rows_seen"):
        assert key in saved, key
    assert saved["explained_variance"] == pytest.approx(1 - saved["fvu"])
    assert 0 <= saved["density"] <= 1 and saved["rows_seen"] > 0
    assert saved["resumed"] is False  # a first run is not a resume, though it leaves last.ckpt behind
    for f in ("sae/cfg.json", "sae/sae_weights.safetensors", "feature_density.png", "loss_curves.png",
              "csv/metrics.csv", "checkpoints/last.ckpt"):
        assert (out / f).is_file(), f


class Interrupt(L.Callback):
    def __init__(self, at_step):
        self.at_step = at_step

    def on_train_batch_end(self, trainer, *_):
        if trainer.global_step >= self.at_step:
            raise RuntimeError("interrupted")


class Record(L.Callback):
    def __init__(self, seen):
        self.seen = seen

    def on_train_batch_start(self, trainer, *_):
        self.seen.append(trainer.global_step)


# (steps per chunk, checkpoint every, interrupted at, step of the last checkpoint)
@pytest.mark.parametrize("chunk,every,stop,saved", [(1, 5, 12, 10), (4, 8, 12, 8)], ids=["step", "chunk"])
def test_resume_continues_from_the_checkpoint_step(tiny_qwen2_dir, tmp_path, chunk, every, stop, saved):
    from lightning.pytorch.callbacks import ModelCheckpoint

    cfg = tiny_cfg(tiny_qwen2_dir, tmp_path / "cache")
    store, _ = ensure_store(cfg, progress=False)
    ckpt_dir = tmp_path / "ckpt"

    def fit(callbacks, ckpt_path=None):
        torch.manual_seed(0)
        module = SAEModule(build_sae(cfg.sae, store.d_in), 1e-3, 1e-3)
        trainer = L.Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                            callbacks=[ModelCheckpoint(dirpath=ckpt_dir, save_last=True, every_n_train_steps=every),
                                       *callbacks])
        trainer.fit(module, datamodule=ActivationDataModule(store, 64, steps_per_chunk=chunk), ckpt_path=ckpt_path)
        return trainer, module

    with pytest.raises(RuntimeError, match="interrupted"):
        fit([Interrupt(stop)])
    saved_step = torch.load(ckpt_dir / "last.ckpt", weights_only=False)["global_step"]
    assert saved_step == saved  # global_step counts optimizer steps, chunked or not
    seen: list[int] = []
    trainer, module = fit([Record(seen)], ckpt_path=str(ckpt_dir / "last.ckpt"))
    assert seen[0] == saved_step  # continues where the checkpoint stopped, not from 0
    assert int(module.rows_seen) > saved_step * 64 - 64  # the rows counter came back too


def test_an_offline_wandb_run_holds_the_final_metrics(tiny_qwen2_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = tiny_cfg(tiny_qwen2_dir, tmp_path / "cache", "logger=wandb", "sae.epochs=1")
    out = tmp_path / "run"
    out.mkdir()
    metrics = train(cfg, out)
    from causalgear.report.wandb_runs import read_offline_summary

    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    summary = read_offline_summary(runs[0])
    assert summary["explained_variance"] == pytest.approx(metrics["explained_variance"])
    assert summary["l1_coeff"] == pytest.approx(1e-3)


def test_under_ddp_a_chunk_is_one_step_and_a_rank_takes_half_the_batches(tiny_qwen2_dir, tmp_path):
    # DDP reduces gradients once per forward: several backward passes inside one training_step would break it
    store, _ = ensure_store(tiny_cfg(tiny_qwen2_dir, tmp_path / "cache"), progress=False)
    data = ActivationDataModule(store, 64, steps_per_chunk=4)
    alone = [b for chunk in data.train_dataloader() for b in chunk]
    assert len(next(iter(data.train_dataloader()))) == 4
    data.trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
    assert data.trainer.world_size == 2 and data.trainer.global_rank == 0
    chunks = list(data.train_dataloader())
    assert all(len(chunk) == 1 for chunk in chunks)
    assert len(chunks) == sum(len(b) == 64 for b in alone) // 2  # rank 0's share; rank 1 takes the other


def test_a_lambda_by_k_sweep_harvests_once_and_every_job_writes_metrics(tiny_qwen2_dir, tmp_path):
    import subprocess
    import sys

    base = [o for o in tiny_overrides(tiny_qwen2_dir, tmp_path / "cache", "sae.epochs=1") if o != "sae.k=64"]
    proc = subprocess.run([sys.executable, "-m", "causalgear", "train", "-m", "sae.l1_coeff=1e-4,1e-2", "sae.k=8,16",
                           *base, "logger=none", "hydra.sweep.dir=sweep"],
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("activations: harvested") == 1 and proc.stdout.count("activations: cache hit") == 3
    jobs = sorted((tmp_path / "sweep").glob("[0-9]*"))
    assert len(jobs) == 4
    got = {(m["l1_coeff"], m["k"]) for m in (json.loads((j / "metrics.json").read_text()) for j in jobs)}
    assert got == {(1e-4, 8), (1e-4, 16), (1e-2, 8), (1e-2, 16)}
