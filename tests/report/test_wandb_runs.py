"""Offline W&B runs read back from their run file, without syncing and without wandb's reader."""

from pathlib import Path

import pytest

from causalgear.report.wandb_runs import exit_code, read_offline_summary, read_records, wait_for_exit


def offline_run(tmp_path: Path, monkeypatch, rows: int) -> Path:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    run = wandb.init(project="causalgear-test", mode="offline", dir=str(tmp_path), reinit="create_new")
    for step in range(rows):
        run.log({"loss": 1.0 / (step + 1), "tag": f"row {step:05d}"})
    run.summary.update({"explained_variance": 0.875})
    run.finish()
    (run_dir,) = list((tmp_path / "wandb").glob("offline-run-*"))
    assert wait_for_exit(run_dir) == 0  # the service closes the file after finish
    return run_dir


def test_a_run_longer_than_a_block_reads_back_every_row_and_the_final_summary(tmp_path, monkeypatch):
    run_dir = offline_run(tmp_path, monkeypatch, rows=600)
    assert next(run_dir.glob("run-*.wandb")).stat().st_size > 3 * 32768  # records cross block boundaries
    history = [r for r in read_records(run_dir) if r.WhichOneof("record_type") == "history"]
    assert len(history) == 600
    summary = read_offline_summary(run_dir)
    assert summary["explained_variance"] == 0.875 and summary["loss"] == pytest.approx(1 / 600)
    assert exit_code(run_dir) == 0


def test_a_file_not_yet_written_has_no_records_and_no_exit_code(tmp_path):
    run_dir = tmp_path / "offline-run-1"
    run_dir.mkdir()
    (run_dir / "run-1.wandb").write_bytes(b"")
    assert list(read_records(run_dir)) == [] and exit_code(run_dir) is None
    (run_dir / "run-1.wandb").write_bytes(b":W&B\xe1\xbe\x00")  # the header alone, as before the service closes it
    assert read_offline_summary(run_dir) == {} and exit_code(run_dir) is None
    assert wait_for_exit(run_dir, timeout_s=0.5) is None  # a run that never closes: no code, in bounded time


def test_a_file_that_is_not_a_wandb_run_is_refused_by_name(tmp_path):
    (tmp_path / "run-1.wandb").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="run-1.wandb is not a W&B run file"):
        list(read_records(tmp_path))
    with pytest.raises(FileNotFoundError, match="no run-"):
        list(read_records(tmp_path / "missing"))
