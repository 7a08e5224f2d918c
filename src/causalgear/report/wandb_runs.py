"""Read an offline W&B run back without syncing it.

wandb 0.31 writes offline runs only as `offline-run-*/run-<id>.wandb` (no wandb-summary.json)
and ships no Python reader for that file any more. The file is a LevelDB-style log (7-byte
header, 32 KiB blocks of chunks: crc32c, length, type) of wandb's own protobuf `Record`s, which
we decode with wandb's protobuf classes.

wandb's service holds the records of a block (32 KiB) in memory and writes the rest when it
closes the run's stream, which it is told to do without waiting after `finish()` returns: until
then a small run's file is its 7-byte header. `wait_for_exit` reads a run once it is whole.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

_HEADER = b":W&B"
_BLOCK = 32768
_CHUNK = struct.Struct("<IHB")  # crc32c, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(run_dir: str | Path) -> Iterator:
    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted(Path(run_dir).glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb file in {run_dir}")
    data = files[0].read_bytes()
    if not data:  # created, its header not yet written
        return
    if not data.startswith(_HEADER):
        raise ValueError(f"{files[0]} is not a W&B run file")
    pos, pending = 7, b""
    while pos + _CHUNK.size <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _CHUNK.size:  # block trailer padding
            pos += room
            continue
        _crc, length, kind = _CHUNK.unpack_from(data, pos)
        pos += _CHUNK.size
        if pos + length > len(data):  # the tail of a chunk wandb's service is still writing
            return
        if kind == 0 and length == 0:
            pos += _BLOCK - pos % _BLOCK if pos % _BLOCK else 0
            continue
        pending += data[pos:pos + length]
        pos += length
        if kind in (_FULL, _LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def exit_code(run_dir: str | Path) -> int | None:
    """The exit code the run finished with (0: it succeeded), or None while the file holds no exit
    record: the run is still open, or wandb's service has not written all of it yet."""
    for record in read_records(run_dir):
        if record.WhichOneof("record_type") == "exit":
            return record.exit.exit_code
    return None


def wait_for_exit(run_dir: str | Path, timeout_s: float = 60.0) -> int | None:
    """`exit_code` once wandb's service has written the exit record, or None after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while (code := exit_code(run_dir)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return code


def read_offline_summary(run_dir: str | Path) -> dict:
    """The run's final summary: later updates overwrite earlier ones, as W&B does."""
    summary: dict = {}
    for record in read_records(run_dir):
        if record.WhichOneof("record_type") != "summary":
            continue
        for item in record.summary.update:
            key = item.key or ".".join(item.nested_key)
            summary[key] = json.loads(item.value_json)
    return summary
