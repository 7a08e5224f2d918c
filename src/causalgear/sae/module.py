"""Lightning wiring: the SAE as a LightningModule, the activation store as a DataModule."""

from __future__ import annotations

import lightning as L
import torch

from causalgear.harvest.store import ActivationStore, ShuffledBatches
from causalgear.logs import plain
from causalgear.sae.base import Coefficient, SparseAutoencoder
from causalgear.sae.metrics import ReconstructionStats

VAL_EVERY = 10  # every 10th example (by index) is validation: rows split by example, not token


def is_validation(shard: dict) -> torch.Tensor:
    return shard["example"] % VAL_EVERY == 0


def is_train(shard: dict) -> torch.Tensor:
    return shard["example"] % VAL_EVERY != 0


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel (one kernel for all parameters: a small SAE's step is short enough
    for the optimizer's per-parameter launches to show, bench/sae_train.py) where every parameter's
    device and dtype have one."""
    params = list(params)
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused)


class Chunks(torch.utils.data.IterableDataset):
    """Groups consecutive batches into lists of `steps` batches: one Lightning batch, `steps` optimizer steps."""

    def __init__(self, batches: torch.utils.data.IterableDataset, steps: int):
        self.batches, self.steps = batches, steps

    def __iter__(self):
        chunk: list[torch.Tensor] = []
        for batch in self.batches:
            chunk.append(batch)
            if len(chunk) == self.steps:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class ActivationDataModule(L.LightningDataModule):
    """Training batches come in chunks of `steps_per_chunk` batches (see SAEModule). Under DDP each
    rank trains on its own share of the rows (ShuffledBatches), and a chunk is one batch: DDP
    reduces gradients once per forward (one training_step), so it cannot take several backward
    passes inside one."""

    def __init__(self, store: ActivationStore, batch_size: int, buffer_rows: int = 65536, seed: int = 0,
                 steps_per_chunk: int = 1):
        super().__init__()
        self.store, self.batch_size, self.buffer_rows, self.seed = store, batch_size, buffer_rows, seed
        self.steps_per_chunk = steps_per_chunk
        self.train_batches: ShuffledBatches | None = None

    def train_dataloader(self):
        rank, world_size = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        self.train_batches = ShuffledBatches(self.store, self.batch_size, self.buffer_rows, self.seed,
                                             select=is_train, rank=rank, world_size=world_size)
        module = self.trainer.lightning_module if self.trainer else None
        if isinstance(module, SAEModule):
            # built after a checkpoint is restored: a run resumed mid-epoch (where Lightning calls no
            # on_train_epoch_start) goes on with that epoch's order, after the batches it trained
            current = self.trainer.current_epoch
            self.start_epoch(current, module.batches_trained(current))
        return torch.utils.data.DataLoader(Chunks(self.train_batches, 1 if world_size > 1 else self.steps_per_chunk),
                                           batch_size=None)

    def start_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """The next pass over the training batches is epoch `epoch`, its first `skip_batches` already trained."""
        if self.train_batches is not None:
            self.train_batches.set_epoch(epoch, skip_batches)

    def val_dataloader(self):
        ds = ShuffledBatches(self.store, 4096, self.buffer_rows, self.seed, select=is_validation, shuffle=False)
        return torch.utils.data.DataLoader(ds, batch_size=None)


class SAEModule(L.LightningModule):
    """One Lightning batch is a chunk of SAE batches, one optimizer step each (manual optimization).

    Lightning's per-batch work (hooks, loop bookkeeping, callbacks) costs about as much as a
    whole step of a small SAE on a CPU; a chunk pays it once for several steps. The steps are
    the same as one batch per step: `global_step` counts optimizer steps, checkpoints and
    resume work at chunk boundaries.
    """

    def __init__(self, sae: SparseAutoencoder, coefficients: dict[str, Coefficient], lr: float):
        super().__init__()
        self.sae, self.coefficients, self.lr = sae, coefficients, lr
        self.automatic_optimization = False
        self.register_buffer("rows_seen", torch.zeros((), dtype=torch.long))  # restored on resume
        # (epoch, batches of it trained): a resumed run skips those batches of the epoch's order
        self.register_buffer("epoch_progress", torch.zeros(2, dtype=torch.long))
        # rows since each code last fired, for architectures that treat dead codes (restored on resume)
        self.register_buffer("rows_since_fired", torch.zeros(sae.d_sae, dtype=torch.long))
        self._val: ReconstructionStats | None = None

    def dead_codes(self, z: torch.Tensor) -> torch.Tensor | None:
        """Advance the dead-code counter by this batch; the codes that fired on none of the SAE's
        `dead_after_rows` last rows (None where the architecture does not use them)."""
        if self.sae.dead_after_rows is None:
            return None
        self.rows_since_fired += len(z)
        self.rows_since_fired[(z > 0).any(0)] = 0
        return self.rows_since_fired >= self.sae.dead_after_rows

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step's terms: the MSE once, then each declared term times its coefficient."""
        pre = self.sae.encode_pre(x)
        z = self.sae.activation(pre)
        x_hat = self.sae.decode(z)
        mse = torch.nn.functional.mse_loss(x_hat, x)
        terms = self.sae.auxiliary_losses(x, pre, z, x_hat, self.dead_codes(z))
        loss = mse
        for name, term in terms.items():
            loss = loss + self.coefficients[name].at(self.global_step) * term
        return {"loss": loss, "mse": mse, **terms, "z": z}

    def training_step(self, chunk: list[torch.Tensor], _idx: int) -> None:
        opt = self.optimizers()
        for batch in chunk:
            terms = self.losses(batch)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(terms["loss"])
            opt.step()
            self.sae.post_step()
        # every rank trains on as many rows as this one (ShuffledBatches): the count is global
        self.rows_seen += sum(len(batch) for batch in chunk) * self.trainer.world_size
        self.epoch_progress[1] += len(chunk)
        if self._writes_logs():  # the chunk's last step stands for it
            logged = {f"train/{k}": v.detach() for k, v in terms.items() if v.ndim == 0}
            logged["train/l0"] = (terms["z"] > 0).float().sum(-1).mean()
            logged["train/step"] = float(self.global_step)
            self.log_dict(logged, prog_bar=False, on_step=True, on_epoch=False)
            self.log("loss", terms["loss"].detach(), prog_bar=True, logger=False)

    def batches_trained(self, epoch: int) -> int:
        """How many batches of `epoch` this module has trained (restored with a checkpoint)."""
        counted, done = (int(v) for v in self.epoch_progress)
        return done if counted == epoch else 0

    def on_train_epoch_start(self) -> None:
        """Tell this epoch's batches which epoch it is (Lightning never calls set_epoch on an iterable
        dataset) and, in an epoch resumed from a checkpoint, how many of its batches were trained."""
        skip = self.batches_trained(self.current_epoch)
        self.epoch_progress.copy_(torch.tensor([self.current_epoch, skip]))
        datamodule = getattr(self.trainer, "datamodule", None)
        if isinstance(datamodule, ActivationDataModule):
            datamodule.start_epoch(self.current_epoch, skip)

    def _writes_logs(self) -> bool:
        """Whether Lightning writes this batch's logs (every log_every_n_steps batches): a
        self.log costs more than a small SAE's step, and on the other batches it is thrown away."""
        connector = getattr(self._trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True))

    def on_validation_epoch_start(self) -> None:
        self._val = ReconstructionStats(self.sae.d_sae)

    def validation_step(self, batch: torch.Tensor, _idx: int) -> None:
        z = self.sae.encode(batch)
        self._val.update(batch, self.sae.decode(z), z)

    def on_validation_epoch_end(self) -> None:
        if self._val is not None and self._val.n:
            stats = self._val.compute()
            # every DDP rank reads all validation rows: the ranks' values agree, and their mean is each
            self.log_dict({f"val/{k}": v for k, v in stats.items() if k != "val_rows"}, prog_bar=False,
                          sync_dist=True)
            self.log("val_ev", stats["explained_variance"], prog_bar=True, logger=False, sync_dist=True)
            if not self.trainer.sanity_checking and self.trainer.is_global_zero:
                plain(f"train: epoch {self.current_epoch + 1}/{self.trainer.max_epochs}, step {self.global_step}, "
                      f"validation explained variance {stats['explained_variance']:.4f}, L0 {stats['l0']:.2f}")

    def configure_optimizers(self):
        return make_adam(self.sae.parameters(), self.lr)
