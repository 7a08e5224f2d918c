"""Lightning wiring: the SAE as a LightningModule, the activation store as a DataModule."""

from __future__ import annotations

import lightning as L
import torch

from causalgear.harvest.store import ActivationStore, ShuffledBatches
from causalgear.sae.base import SparseAutoencoder
from causalgear.sae.metrics import ReconstructionStats

VAL_EVERY = 10  # every 10th example (by index) is validation: rows split by example, not token


def is_validation(shard: dict) -> torch.Tensor:
    return shard["example"] % VAL_EVERY == 0


def is_train(shard: dict) -> torch.Tensor:
    return shard["example"] % VAL_EVERY != 0


class ActivationDataModule(L.LightningDataModule):
    def __init__(self, store: ActivationStore, batch_size: int, buffer_rows: int = 65536, seed: int = 0):
        super().__init__()
        self.store, self.batch_size, self.buffer_rows, self.seed = store, batch_size, buffer_rows, seed

    def train_dataloader(self):
        ds = ShuffledBatches(self.store, self.batch_size, self.buffer_rows, self.seed, select=is_train)
        return torch.utils.data.DataLoader(ds, batch_size=None)

    def val_dataloader(self):
        ds = ShuffledBatches(self.store, 4096, self.buffer_rows, self.seed, select=is_validation, shuffle=False)
        return torch.utils.data.DataLoader(ds, batch_size=None)


class SAEModule(L.LightningModule):
    def __init__(self, sae: SparseAutoencoder, l1_coeff: float, lr: float, l1_warmup_steps: int = 0):
        super().__init__()
        self.sae, self.l1_coeff, self.lr, self.l1_warmup_steps = sae, l1_coeff, lr, l1_warmup_steps
        self.register_buffer("rows_seen", torch.zeros((), dtype=torch.long))  # restored on resume
        self._val: ReconstructionStats | None = None

    def current_l1(self) -> float:
        if self.l1_warmup_steps <= 0:
            return self.l1_coeff
        return self.l1_coeff * min(1.0, (self.global_step + 1) / self.l1_warmup_steps)

    def training_step(self, batch: torch.Tensor, _idx: int) -> torch.Tensor:
        terms = self.sae.loss_terms(batch, self.current_l1())
        self.rows_seen += len(batch)
        # Lightning writes logs every log_every_n_steps anyway; calling self.log on the other
        # steps only costs time, which for a small SAE is a large share of a step (measured)
        if self._trainer is None or self.global_step % self.trainer.log_every_n_steps == 0:
            logged = {f"train/{k}": v.detach() for k, v in terms.items() if v.ndim == 0}
            logged["train/l0"] = (terms["z"] > 0).float().sum(-1).mean()
            self.log_dict(logged, prog_bar=False, on_step=True, on_epoch=False)
            self.log("loss", terms["loss"].detach(), prog_bar=True, logger=False)
        return terms["loss"]

    def on_train_batch_end(self, *_args) -> None:
        self.sae.post_step()

    def on_validation_epoch_start(self) -> None:
        self._val = ReconstructionStats(self.sae.d_sae)

    def validation_step(self, batch: torch.Tensor, _idx: int) -> None:
        z = self.sae.encode(batch)
        self._val.update(batch, self.sae.decode(z), z)

    def on_validation_epoch_end(self) -> None:
        if self._val is not None and self._val.n:
            stats = self._val.compute()
            self.log_dict({f"val/{k}": v for k, v in stats.items() if k != "val_rows"}, prog_bar=False)
            self.log("val_ev", stats["explained_variance"], prog_bar=True, logger=False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.sae.parameters(), lr=self.lr)
