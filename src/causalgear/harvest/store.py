"""The activation store: safetensors shards, a manifest with per-file sha256, and norm stats.

Layout of `<cache>/activations/<key>/`:
  manifest.json          key inputs, d_in, dtype, rows, shards (file, rows, sha256), stats sha256
  examples.jsonl         one line per harvested example (id, split, group, db_id)
  stats.safetensors      `mean` [d_in] and `scale` [] with E||scale * x||^2 = d_in
  shard_NNNNN.safetensors  `acts` [n, d_in] and per-row `example`, `position`, `token_id`,
                           `role`, `clause`
A store is built in a temporary directory and renamed when complete, and every file is
checked against the manifest on open, so a half-written or corrupt store is never read.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from causalgear.errors import CorruptStore
from causalgear.io import follow_umask, sha256_file

STORE_VERSION = 2  # 2: each row carries its concepts (causalgear.data.concepts)
ROLES = ("instruction", "context", "response")
CLAUSES = ("none", "select", "from", "where", "group_by", "having", "order_by", "limit")
META = ("example", "position", "token_id", "role", "clause", "concepts")
_META_DTYPES = {"example": torch.int32, "position": torch.int32, "token_id": torch.int32,
                "role": torch.int8, "clause": torch.int8, "concepts": torch.int64}


class StoreWriter:
    """Buffers rows and writes a shard every `shard_tokens` rows: memory is bounded by the shard."""

    def __init__(self, path: Path, d_in: int, shard_tokens: int, dtype: torch.dtype = torch.float32):
        self.path, self.d_in, self.shard_tokens, self.dtype = path, d_in, shard_tokens, dtype
        self.path.mkdir(parents=True, exist_ok=True)
        self.shards: list[dict] = []
        self._acts: list[torch.Tensor] = []
        self._meta: dict[str, list[torch.Tensor]] = {k: [] for k in META}
        self._buffered = 0
        self.n_rows = 0
        self._sum = torch.zeros(d_in, dtype=torch.float64)
        self._sq_norm = 0.0

    def add(self, acts: torch.Tensor, meta: dict[str, torch.Tensor]) -> None:
        acts = acts.detach().to("cpu", torch.float32)
        self._sum += acts.sum(0, dtype=torch.float64)
        self._sq_norm += float(acts.double().pow(2).sum())
        self._acts.append(acts.to(self.dtype))
        for k in META:
            self._meta[k].append(meta[k].to("cpu", _META_DTYPES[k]))
        self._buffered += len(acts)
        self.n_rows += len(acts)
        while self._buffered >= self.shard_tokens:
            self._flush(self.shard_tokens)

    def _flush(self, n: int) -> None:
        acts = torch.cat(self._acts)
        meta = {k: torch.cat(v) for k, v in self._meta.items()}
        name = f"shard_{len(self.shards):05d}.safetensors"
        save_file({"acts": acts[:n].contiguous(), **{k: v[:n].contiguous() for k, v in meta.items()}},
                  self.path / name)
        follow_umask(self.path / name)
        self.shards.append({"file": name, "rows": n, "sha256": sha256_file(self.path / name)})
        self._acts = [acts[n:]] if len(acts) > n else []
        self._meta = {k: [v[n:]] if len(v) > n else [] for k, v in meta.items()}
        self._buffered = len(acts) - n

    def finish(self, info: dict, examples: list[dict]) -> dict:
        if self._buffered:
            self._flush(self._buffered)
        if self.n_rows == 0:
            raise ValueError("no activations were captured: every token was masked or dropped")
        mean = (self._sum / self.n_rows).float()
        scale = torch.tensor((self.d_in / (self._sq_norm / self.n_rows)) ** 0.5, dtype=torch.float32)
        save_file({"mean": mean, "scale": scale}, self.path / "stats.safetensors")
        follow_umask(self.path / "stats.safetensors")
        with open(self.path / "examples.jsonl", "w") as fh:
            fh.writelines(json.dumps(e, sort_keys=True) + "\n" for e in examples)
        dtype = str(self.dtype).removeprefix("torch.")
        manifest = {"version": STORE_VERSION, **info, "d_in": self.d_in, "dtype": dtype,
                    "n_rows": self.n_rows, "n_examples": len(examples), "shards": self.shards,
                    "roles": list(ROLES), "clauses": list(CLAUSES),
                    "stats_sha256": sha256_file(self.path / "stats.safetensors"),
                    "examples_sha256": sha256_file(self.path / "examples.jsonl")}
        (self.path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return manifest


class ActivationStore:
    """A complete store, checked against its manifest on open."""

    def __init__(self, path: str | Path, verify: bool = True):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.is_file():
            raise CorruptStore(f"activation store {self.path} has no manifest.json")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as err:
            raise CorruptStore(f"activation store {self.path}: manifest.json is not valid JSON ({err})") from err
        if self.manifest.get("version") != STORE_VERSION:
            raise CorruptStore(f"activation store {self.path}: version {self.manifest.get('version')} "
                               f"!= {STORE_VERSION}")
        if verify:
            self.verify()
        stats = load_file(self.path / "stats.safetensors")
        self.mean, self.scale = stats["mean"], stats["scale"]

    def verify(self) -> None:
        files = [(s["file"], s["sha256"]) for s in self.manifest["shards"]]
        files += [("stats.safetensors", self.manifest["stats_sha256"]),
                  ("examples.jsonl", self.manifest["examples_sha256"])]
        for name, digest in files:
            f = self.path / name
            if not f.is_file():
                raise CorruptStore(f"activation store {self.path}: {name} is missing")
            if sha256_file(f) != digest:
                raise CorruptStore(f"activation store {self.path}: {name} does not match its sha256 in the manifest")
        if sum(s["rows"] for s in self.manifest["shards"]) != self.manifest["n_rows"]:
            raise CorruptStore(f"activation store {self.path}: shard rows do not add up to n_rows")

    @property
    def d_in(self) -> int:
        return int(self.manifest["d_in"])

    @property
    def n_rows(self) -> int:
        return int(self.manifest["n_rows"])

    @property
    def n_shards(self) -> int:
        return len(self.manifest["shards"])

    def examples(self) -> list[dict]:
        with open(self.path / "examples.jsonl") as fh:
            return [json.loads(line) for line in fh]

    def shard(self, i: int) -> dict[str, torch.Tensor]:
        return load_file(self.path / self.manifest["shards"][i]["file"])

    def metadata(self) -> dict[str, torch.Tensor]:
        """Per-row metadata of the whole store (no activations): small, fits in memory."""
        parts = [self.shard(i) for i in range(self.n_shards)]
        return {k: torch.cat([p[k] for p in parts]) for k in META}

    def rows(self, select: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None) -> torch.Tensor:
        """All activations (float32) whose metadata passes `select`; for small stores and tests."""
        out = []
        for i in range(self.n_shards):
            s = self.shard(i)
            acts = s["acts"].float()
            out.append(acts if select is None else acts[select(s)])
        return torch.cat(out)


class ShuffledBatches(torch.utils.data.IterableDataset):
    """Batches of rows, shuffled, from a store of any size.

    A store of at most `buffer_rows` rows is read once and kept: each epoch is then a full
    permutation, and a batch is one gather (reading and re-shuffling shards cost more than a
    small SAE's whole step). A larger store streams through a bounded buffer (memory:
    `buffer_rows` rows), shuffled across shards. `select(shard) -> bool mask` keeps some rows
    (e.g. the training examples); `normalize` applies the store's scale, so that E||x||^2 = d_in.

    Under data parallelism (`world_size` > 1) every rank draws the same order from the seed and
    takes every `world_size`-th full batch from offset `rank`: the ranks see disjoint rows, and
    the same number of equal batches (a rank with one batch more would leave the others waiting
    in DDP's gradient reduction); the batches that do not fill a round are dropped.
    """

    def __init__(self, store: ActivationStore, batch_size: int, buffer_rows: int = 65536, seed: int = 0,
                 select: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None, normalize: bool = True,
                 shuffle: bool = True, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
        self.store, self.batch_size, self.buffer_rows = store, batch_size, max(buffer_rows, batch_size)
        self.seed, self.select, self.normalize, self.shuffle = seed, select, normalize, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._skip = 0
        self._rows: torch.Tensor | None = None

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """The next pass is epoch `epoch` (its seeded order), starting after its first `skip_batches`
        batches of this rank (a run resumed mid-epoch)."""
        self.epoch, self._skip = epoch, skip_batches

    def _shard_rows(self, i: int) -> torch.Tensor:
        shard = self.store.shard(i)
        acts = shard["acts"].float()
        if self.select is not None:
            acts = acts[self.select(shard)]
        return acts * self.store.scale if self.normalize else acts

    def __iter__(self) -> Iterator[torch.Tensor]:
        # each pass is a new epoch with its own order: Lightning calls set_epoch only on samplers,
        # never on an iterable dataset, which would otherwise replay one order every epoch
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        skip, self._skip = self._skip, 0
        if self.store.n_rows <= self.buffer_rows:
            batches = self._in_memory(gen, skip)
        else:
            batches = itertools.islice(self._this_rank(self._streamed(gen)), skip, None)
        yield from batches

    def _this_rank(self, batches: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        """This rank's share of a batch sequence that every rank draws alike."""
        if self.world_size == 1:
            yield from batches
            return
        round_: list[torch.Tensor] = []
        for batch in batches:
            if len(batch) < self.batch_size:
                return
            round_.append(batch)
            if len(round_) == self.world_size:
                yield round_[self.rank]
                round_ = []

    def _in_memory(self, gen: torch.Generator, skip: int = 0) -> Iterator[torch.Tensor]:
        if self._rows is None:
            self._rows = torch.cat([self._shard_rows(i) for i in range(self.store.n_shards)])
        rows = self._rows
        if not self.shuffle:
            yield from itertools.islice(self._this_rank(iter(rows.split(self.batch_size))), skip, None)
            return
        # the rank's share is taken from the order's pieces, so only this rank's rows are gathered;
        # index_select: about a third of advanced indexing's time for a 512-row gather on a CPU
        order = torch.randperm(len(rows), generator=gen)
        for piece in itertools.islice(self._this_rank(iter(order.split(self.batch_size))), skip, None):
            yield torch.index_select(rows, 0, piece)

    def _streamed(self, gen: torch.Generator) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.store.n_shards, generator=gen) if self.shuffle else range(self.store.n_shards)
        buffer = torch.empty(0, self.store.d_in)
        for i in order:
            buffer = torch.cat([buffer, self._shard_rows(int(i))])
            if len(buffer) >= self.buffer_rows:
                if self.shuffle:
                    buffer = buffer[torch.randperm(len(buffer), generator=gen)]
                # emit half, keep half to mix with the next shard
                n_out = (len(buffer) // 2 // self.batch_size) * self.batch_size
                for start in range(0, n_out, self.batch_size):
                    yield buffer[start:start + self.batch_size]
                buffer = buffer[n_out:]
        if self.shuffle and len(buffer):
            buffer = buffer[torch.randperm(len(buffer), generator=gen)]
        for start in range(0, len(buffer), self.batch_size):
            yield buffer[start:start + self.batch_size]
