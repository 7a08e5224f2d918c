"""What makes an interrupted `causalgear train` resume as if it had never stopped.

- `ResumeCheckpoint` writes `last.ckpt` atomically every `every_n_steps` optimizer steps, counted
  across epochs (a step cadence that only fires on exact multiples stops lining up once an epoch
  ends on a partial chunk), and at every epoch's end (written as the next epoch's start).
- The SAE module counts the batches it trained in the current epoch; on resume the data module
  skips exactly those of the epoch's seeded order, so no row is seen twice (SAEModule,
  ActivationDataModule).
- `ResumableCSVLogger` keeps the loss history written before the interruption: Lightning's CSV
  writer deletes an existing metrics.csv when it starts.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class ResumeCheckpoint(L.Callback):
    def __init__(self, path: str | Path, every_n_steps: int):
        self.path, self.every = Path(path), every_n_steps
        self._saved_at = 0
        self._at_epoch_start = False

    def on_train_start(self, trainer: L.Trainer, _module: L.LightningModule) -> None:
        self._saved_at = trainer.global_step  # a resumed run counts on from its checkpoint

    def on_train_batch_end(self, trainer: L.Trainer, *_args) -> None:
        # Never at an epoch's last batch: Lightning restores such a checkpoint as the end of the
        # next epoch and skips it. The epoch's end is saved as the next epoch's start instead.
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        if trainer.global_step // self.every > self._saved_at // self.every:
            self.save(trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, _module: L.LightningModule) -> None:
        if trainer.current_epoch > 0 and trainer.global_step > self._saved_at:
            self._at_epoch_start = True
            try:
                self.save(trainer)
            finally:
                self._at_epoch_start = False

    def on_save_checkpoint(self, _trainer: L.Trainer, _module: L.LightningModule, checkpoint: dict) -> None:
        if self._at_epoch_start:
            # Lightning resets the batch counters only once the epoch's first batch is fetched: as
            # saved here they still say "the last batch of an epoch", and a resumed run would take
            # the new epoch for finished
            progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]
            progress["current"] = {k: 0 for k in progress["current"]}
            progress["is_last_batch"] = False

    def save(self, trainer: L.Trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)  # every rank calls it; rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, self.path)  # a kill mid-write leaves the previous checkpoint whole
        self._saved_at = trainer.global_step


class _KeepingWriter(ExperimentWriter):
    """Appends to an existing metrics.csv, dropping the rows logged after the checkpoint resumed from
    (they are logged again, from the same state)."""

    def __init__(self, log_dir: str, resume_step: int | None):
        self.resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        if self.resume_step is None or not os.path.isfile(self.metrics_file_path):
            super()._check_log_dir_exists()
            return
        with open(self.metrics_file_path, newline="") as fh:
            reader = csv.DictReader(fh)
            keys, rows = list(reader.fieldnames or []), list(reader)
        kept = [r for r in rows if _step(r) <= self.resume_step]
        with open(self.metrics_file_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(kept)
        self.metrics_keys = keys


def _step(row: dict) -> float:
    """A CSV row's optimizer step: train rows carry it, epoch-end validation rows have only `step`."""
    for key in ("train/step", "step"):
        if row.get(key) not in (None, ""):
            return float(row[key])
    return float("inf")


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger that, resuming from `resume_step`, keeps the history up to that step."""

    def __init__(self, *args, resume_step: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_step = resume_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(self.log_dir, self._resume_step)
        return self._experiment
