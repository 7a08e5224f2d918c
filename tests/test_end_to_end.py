"""End to end through the command line, as a user runs it: the pipeline on the embedded model's
code path (the seconds-to-build recipe), compare over its run, and the service under load.
Slow (minutes): `make test-slow`, which CI runs after the fast suite."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL = ["model=tinysql_smoke", "data.n_train_per_set=200", "data.n_schemas=40", "harvest.max_examples=200",
         "sae.epochs=1", "sae.ce_examples=8", "causal.n_select=20", "causal.n_test=30", "causal.n_boot=200",
         "causal.kl_examples=8", "generation.max_new_tokens=24", "steering.grains.scales=[0.1]",
         "steering.methods.alphas=[1.0]",
         "steering.grains.n_steps=16"]


def run(*args, cwd, timeout=900) -> subprocess.CompletedProcess:
    env = {"CAUSALGEAR_CACHE": str(cwd / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(cwd),
           "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_pipeline_compare_and_serve_from_the_command_line(tmp_path):
    proc = run("-m", "causalgear", "pipeline", *SMALL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = Path(next(line for line in proc.stdout.splitlines() if line.startswith("report: "))[8:])
    run_dir = report.parent
    assert report.is_file() and "<h2 id='steering'>Steering</h2>" in report.read_text()
    # written to a pipe, as in CI or `make run > log`: our lines only, no bar frames, no library chatter
    output = proc.stdout + proc.stderr
    assert len(output.encode()) < 50_000 and "\r" not in output
    for noise in ("Tip:", "litlogger", "anonymous setting", "deprecated", "GPU available"):
        assert noise not in output, noise
    log = (run_dir / "pipeline.log").read_text()  # the run's own log keeps the stage lines
    assert "== train" in log and "explained variance" in log and "report: " in log
    # three SAE seeds by default: the scoreboard it ends with says on how many each SAE answer holds
    assert "== SAE seed 2" in log and "of 3 seeds" in proc.stdout.split("report: ")[-1]
    assert json.loads((run_dir / "seeds" / "seeds.json").read_text())["seeds"] == [0, 1, 2]
    # the default logger left an offline W&B run holding the SAE's metrics
    from causalgear.report.wandb_runs import read_offline_summary

    (wandb_run,) = list((run_dir / "train" / "wandb").glob("offline-run-*"))
    metrics = json.loads((run_dir / "train" / "metrics.json").read_text())
    assert read_offline_summary(wandb_run)["explained_variance"] == pytest.approx(metrics["explained_variance"])

    proc = run("-m", "causalgear", "compare", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 0 and (run_dir / "comparison.html").is_file(), proc.stderr

    proc = run(str(REPO / "bench" / "serve_load.py"), *SMALL, f"sae.path={run_dir / 'train'}", "--clients", "2",
               "--requests", "8", "--seconds", "60", "--max-new-tokens", "16", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    load = json.loads(proc.stdout.strip().splitlines()[-1])
    assert load["errors"] == 0 and load["unsteered"]["errors"] == 0 and load["requests"] == 8
    assert load["p50_ms"] > 0 and load["steering_overhead_ratio"] > 0


@pytest.mark.slow
def test_ddp_training_from_the_command_line_splits_the_rows_between_two_processes(tmp_path):
    # trainer=ddp with two CPU processes (gloo): Lightning starts the second rank by re-running the command
    proc = run("-m", "causalgear", "train", *SMALL, "sae=relu", "sae.d_sae=64", "logger=none", "trainer=ddp",
               "trainer.accelerator=cpu", "trainer.devices=2", "hydra.run.dir=ddp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    # each optimizer step took one batch on each rank: twice the rows of a one-process step
    assert metrics["rows_seen"] == metrics["steps"] * 2 * 512
    assert (tmp_path / "ddp" / "train_ddp_process_1.log").is_file()  # the second rank ran, with its own log
    import csv

    with open(tmp_path / "ddp" / "csv" / "metrics.csv") as fh:
        losses = [float(r["train/loss"]) for r in csv.DictReader(fh) if r.get("train/loss")]
    # it learned in its one epoch of a tiny store: the loss fell by over 40%, and the spliced SAE keeps
    # most of what zero-ablating the site loses
    assert metrics["steps"] > 0 and losses[-1] < 0.6 * losses[0] and metrics["ce_loss_recovered"] > 0.5
