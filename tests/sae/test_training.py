"""Training through Lightning: the stage's outputs, resume from a checkpoint, offline W&B."""

import json
from pathlib import Path

import lightning as L
import pytest
import torch

from causalgear.harvest.run import ensure_store
from causalgear.preflight import compose
from causalgear.sae import registry
from causalgear.sae.module import ActivationDataModule, SAEModule
from causalgear.sae.train import train

SMALL = ["data.n_train_per_set=80", "data.n_validation_per_set=5", "data.n_test_per_set=5",
         "data.n_test_ood_per_set=5", "data.n_schemas=20", "harvest.max_examples=200", "harvest.shard_tokens=2000"]


def tiny_overrides(model_dir, cache, *extra) -> list[str]:
    return ["model=hf", f"model.name_or_path={model_dir}", "model.layer=1", f"paths.cache_dir={cache}", "sae=relu",
            "sae.d_sae=64", "sae.batch_size=128", "sae.epochs=2", "sae.ce_examples=16", *SMALL, *extra]


def tiny_cfg(model_dir, cache, *extra):
    return compose(tiny_overrides(model_dir, cache, *extra))


def test_train_writes_metrics_checkpoint_and_plots(tiny_qwen2_dir, tmp_path):
    cfg = tiny_cfg(tiny_qwen2_dir, tmp_path / "cache", "logger=none")
    out = tmp_path / "run"
    out.mkdir()
    metrics = train(cfg, out)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert (saved["arch"], saved["d_in"], saved["d_sae"], saved["k"], saved["l1_coeff"]) == ("relu", 32, 64, None, 1e-3)
    clean, spliced, zero = saved["ce_loss_clean"], saved["ce_loss_spliced"], saved["ce_loss_zero"]
    assert saved["ce_loss_recovered"] == pytest.approx((zero - spliced) / (zero - clean))
    assert saved["mse"] > 0 and 0 <= saved["dead_fraction"] <= 1 and saved["train_seconds"] > 0
    assert saved["explained_variance"] == pytest.approx(1 - saved["fvu"])
    assert 0 <= saved["density"] <= 1 and saved["rows_seen"] > 0
    assert saved["resumed"] is False  # a first run is not a resume, though it leaves last.ckpt behind
    for f in ("sae/cfg.json", "sae/sae_weights.safetensors", "feature_density.png", "loss_curves.png",
              "csv/metrics.csv", "checkpoints/last.ckpt"):
        assert (out / f).is_file(), f


class Interrupt(L.Callback):
    """Raises, as a kill would stop the run, after the optimizer step `at_step` or at epoch `at_epoch`'s start."""

    def __init__(self, at_step=None, at_epoch=None):
        self.at_step, self.at_epoch = at_step, at_epoch

    def on_train_batch_end(self, trainer, *_):
        if self.at_step is not None and trainer.global_step >= self.at_step:
            raise RuntimeError("interrupted")

    def on_train_epoch_start(self, trainer, *_):
        if trainer.current_epoch == self.at_epoch:
            raise RuntimeError("interrupted")


@pytest.fixture(scope="module")
def tiny_store(tiny_qwen2_dir, tmp_path_factory):
    cfg = tiny_cfg(tiny_qwen2_dir, tmp_path_factory.mktemp("cache"))
    return cfg, ensure_store(cfg, progress=False)[0]


def fit(cfg, store, ckpt, callbacks=(), ckpt_path=None, chunk=4):
    from causalgear.sae.checkpoint import ResumeCheckpoint

    torch.manual_seed(0)
    sae = registry.build(cfg.sae, store.d_in)
    module = SAEModule(sae, sae.coefficients(cfg.sae), 1e-3)
    trainer = L.Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, callbacks=[ResumeCheckpoint(ckpt, every_n_steps=10), *callbacks])
    trainer.fit(module, datamodule=ActivationDataModule(store, 128, steps_per_chunk=chunk), ckpt_path=ckpt_path)
    return trainer, module


# where the run is stopped: inside the first epoch, inside a later one (the step cadence no longer
# lines up with chunks there), and right at an epoch's start (the epoch-end checkpoint)
@pytest.mark.parametrize("stop", [{"at_step": 25}, {"at_step": 350}, {"at_epoch": 1}],
                         ids=["first-epoch", "later-epoch", "epoch-end"])
def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_sae(tiny_store, tmp_path, stop):
    cfg, store = tiny_store
    trainer, module = fit(cfg, store, tmp_path / "full.ckpt")
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(cfg, store, tmp_path / "last.ckpt", [Interrupt(**stop)])
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"]
    assert 0 < saved < trainer.global_step
    resumed_trainer, resumed = fit(cfg, store, tmp_path / "last.ckpt", ckpt_path=str(tmp_path / "last.ckpt"))
    # the same batches in the same order, none twice: the same steps, rows and weights
    assert resumed_trainer.global_step == trainer.global_step
    assert int(resumed.rows_seen) == int(module.rows_seen)
    for name, value in module.sae.state_dict().items():
        assert torch.equal(resumed.sae.state_dict()[name], value), name


def test_checkpoints_keep_coming_after_the_first_epoch(tiny_store, tmp_path):
    """Every 10 steps across epochs, though an epoch's 146 steps end on a partial chunk of 4."""
    cfg, store = tiny_store

    class Saved(L.Callback):
        steps: list[int] = []

        def on_save_checkpoint(self, trainer, *_):
            self.steps.append(trainer.global_step)

    saved = Saved()
    trainer, _ = fit(cfg, store, tmp_path / "last.ckpt", [saved])
    per_epoch = trainer.global_step // 3
    assert per_epoch % 4 != 0  # otherwise the cadence would line up by luck
    assert saved.steps[-1] >= trainer.global_step - 14
    assert max(b - a for a, b in zip(saved.steps, saved.steps[1:], strict=False)) <= 10 + 3
    assert per_epoch in saved.steps and 2 * per_epoch in saved.steps  # each epoch's end


def test_a_resumed_run_keeps_the_loss_history_up_to_its_checkpoint(tmp_path):
    from causalgear.sae.checkpoint import ResumableCSVLogger

    first = ResumableCSVLogger(tmp_path, name="", version="csv")
    for step in range(0, 100, 4):
        first.log_metrics({"train/loss": 1.0 / (step + 1), "train/step": float(step)}, step=step // 4)
    first.save()
    resumed = ResumableCSVLogger(tmp_path, name="", version="csv", resume_step=48)
    resumed.log_metrics({"train/loss": 0.5, "train/step": 52.0}, step=13)
    resumed.save()
    import csv

    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    assert [float(r["train/step"]) for r in rows] == [*range(0, 49, 4), 52.0]


def test_an_offline_wandb_run_holds_the_final_metrics(tiny_qwen2_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = tiny_cfg(tiny_qwen2_dir, tmp_path / "cache", "logger=wandb", "sae.epochs=1")
    out = tmp_path / "run"
    out.mkdir()
    metrics = train(cfg, out)
    from causalgear.report.wandb_runs import read_offline_summary, wait_for_exit

    (run,) = list((out / "wandb").glob("offline-run-*"))
    assert wait_for_exit(run) == 0
    summary = read_offline_summary(run)
    assert summary.get("explained_variance") == pytest.approx(metrics["explained_variance"]), sorted(summary)
    assert summary["l1_coeff"] == pytest.approx(1e-3)


def test_a_failed_train_closes_its_own_wandb_run_as_failed_and_leaves_the_callers_open(tiny_qwen2_dir, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    import wandb

    from causalgear.report.wandb_runs import read_offline_summary, wait_for_exit

    callers = wandb.init(project="mine", mode="offline", dir=str(tmp_path / "caller"))
    try:
        # Lightning refuses the value when train builds its Trainer, after the W&B run has started
        cfg = tiny_cfg(tiny_qwen2_dir, tmp_path / "cache", "logger=wandb", "sae.epochs=1",
                       "+trainer.limit_train_batches=-1")
        out = tmp_path / "run"
        out.mkdir()
        with pytest.raises(Exception, match="limit_train_batches"):
            train(cfg, out)
        (run,) = list((out / "wandb").glob("offline-run-*"))
        assert wait_for_exit(run) == 1  # its own run, finished, marked failed
        assert wandb.run is callers
        callers.summary.update({"mine": 1.0})
    finally:
        callers.finish()
    (own,) = list((tmp_path / "caller" / "wandb").glob("offline-run-*"))
    assert wait_for_exit(own) == 0 and read_offline_summary(own)["mine"] == 1.0


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


def test_a_lambda_by_width_sweep_harvests_once_and_every_job_writes_metrics(tiny_qwen2_dir, tmp_path):
    import subprocess
    import sys

    base = [o for o in tiny_overrides(tiny_qwen2_dir, tmp_path / "cache", "sae.epochs=1") if o != "sae.d_sae=64"]
    proc = subprocess.run([sys.executable, "-m", "causalgear", "train", "-m", "sae.l1_coeff=1e-4,1e-2",
                           "sae.d_sae=8,16", *base, "logger=none", "hydra.sweep.dir=sweep"],
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("activations: harvested") == 1 and proc.stdout.count("activations: cache hit") == 3
    jobs = sorted((tmp_path / "sweep").glob("[0-9]*"))
    assert len(jobs) == 4
    got = {(m["l1_coeff"], m["d_sae"]) for m in (json.loads((j / "metrics.json").read_text()) for j in jobs)}
    assert got == {(1e-4, 8), (1e-4, 16), (1e-2, 8), (1e-2, 16)}


@pytest.mark.slow
def test_kill_9_at_90_percent_then_rerun_gives_the_uninterrupted_metrics(tiny_qwen2_dir, tmp_path):
    """As a user would: `causalgear train` killed with SIGKILL late in its run, then the same command
    again in the same run dir."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-m", "causalgear", "train",
            *tiny_overrides(tiny_qwen2_dir, tmp_path / "cache", "logger=none", "sae.epochs=6",
                            "sae.checkpoint_every_steps=10")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    full = subprocess.run([*args, "hydra.run.dir=full"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr[-2000:]
    expected = json.loads((tmp_path / "full" / "metrics.json").read_text())

    proc = subprocess.Popen([*args, "hydra.run.dir=killed"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt, step = tmp_path / "killed" / "checkpoints" / "last.ckpt", 0
    while proc.poll() is None and step < 0.9 * expected["steps"]:
        time.sleep(0.05)
        if ckpt.is_file():
            step = torch.load(ckpt, weights_only=False)["global_step"]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert step >= 0.9 * expected["steps"] and not (tmp_path / "killed" / "metrics.json").exists()

    again = subprocess.run([*args, "hydra.run.dir=killed"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    got = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert got["resumed"] is True and got["rows_seen"] == expected["rows_seen"] and got["steps"] == expected["steps"]
    for key in ("mse", "explained_variance", "l0", "density", "dead_fraction", "ce_loss_spliced", "ce_loss_recovered"):
        assert got[key] == pytest.approx(expected[key], abs=5e-5), key
    history = (tmp_path / "killed" / "csv" / "metrics.csv").read_text().splitlines()
    import csv

    steps = [float(r["train/step"]) for r in csv.DictReader(history) if r.get("train/step")]
    assert steps[0] < 0.1 * expected["steps"] and steps == sorted(steps)  # the history from before the kill


@pytest.mark.slow
def test_a_lambda_sweep_runs_through_the_submitit_local_launcher(tiny_qwen2_dir, tmp_path):
    """A real Hydra launcher: each job is a submitit job (a process of its own), as on SLURM."""
    import subprocess
    import sys

    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    base = tiny_overrides(tiny_qwen2_dir, tmp_path / "cache", "sae.epochs=1", "logger=none")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "causalgear", "harvest", *base], cwd=tmp_path, env=env, check=True,
                   capture_output=True)  # the jobs then share the cached store
    proc = subprocess.run([sys.executable, "-m", "causalgear", "train", "-m", "hydra/launcher=submitit_local",
                           "hydra.launcher.timeout_min=10", "sae.l1_coeff=1e-4,1e-2", *base, "hydra.sweep.dir=sweep"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.name.isdigit())
    assert len(jobs) == 2
    assert {json.loads((j / "metrics.json").read_text())["l1_coeff"] for j in jobs} == {1e-4, 1e-2}
    assert list((tmp_path / "sweep" / ".submitit").iterdir())  # submitit ran them


def test_the_readme_slurm_launcher_overrides_compose(tmp_path):
    """The README's SLURM line names keys the submitit launcher really has."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from causalgear.config import CONF_DIR, register_configs

    register_configs()
    with initialize_config_dir(version_base=None, config_dir=str(CONF_DIR)):
        cfg = hydra_compose("config", overrides=["experiment=lambda_sweep", "hydra/launcher=submitit_slurm",
                                                 "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1",
                                                 "stage=pipeline"], return_hydra_config=True)
    assert cfg.hydra.launcher.partition == "gpu" and cfg.hydra.launcher.gpus_per_node == 1
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
