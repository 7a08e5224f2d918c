"""What a run prints: our own lines, progress bars only on a terminal, no third-party chatter.

Progress bars written to a file or a pipe are carriage-return noise that buries the run's own
lines, so every bar is `bar(...)`: tqdm with `disable=None`, which draws only on a terminal. A
long step prints a plain line instead where there is no terminal (`plain`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm


def is_terminal() -> bool:
    return sys.stderr.isatty()


def bar(iterable=None, *, progress: bool = True, **kwargs) -> tqdm:
    """A tqdm bar drawn only on a terminal (and never with progress=False)."""
    return tqdm(iterable, disable=None if progress else True, **kwargs)


def plain(message: str) -> None:
    """A progress line for logs: printed only where no bar is drawn."""
    if not is_terminal():
        print(message, flush=True)


class _Tee(io.TextIOBase):
    """stdout that also appends its plain lines to a log file (no bar frames: nothing with \r or escapes)."""

    def __init__(self, stream, path: Path):
        self.stream, self.log = stream, open(path, "a")  # noqa: SIM115 - closed by copy_stdout_to
        self._line = ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        self._line += text
        *lines, self._line = self._line.split("\n")
        for line in lines:
            if "\r" not in line and "\x1b" not in line:
                self.log.write(line + "\n")
        self.log.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


@contextlib.contextmanager
def copy_stdout_to(path: Path) -> Iterator[None]:
    """What a stage prints goes to the terminal and to its run's log file."""
    tee = _Tee(sys.stdout, path)
    sys.stdout = tee
    try:
        yield
    finally:
        sys.stdout = tee.stream
        tee.log.close()


def quiet_lightning() -> None:
    """Lightning's INFO lines ("GPU available", the LitLogger tip, checkpoint loading notes) off. Call
    it after importing Lightning, which sets its own logger's level when imported."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates, on every batch
    warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated")


class OncePerMessage(logging.Filter):
    """Lets each distinct message through once: a warning a library repeats on every forward pass
    (bitsandbytes' 8-bit matmul casts its inputs on each call) is said once per process."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def quiet_libraries() -> None:
    """Keep tips, deprecation notices and download bars of the libraries we drive out of a run's output."""
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(lightning|torch|wandb|transformers)\b")
    os.environ.setdefault("WANDB_SILENT", "true")
    # bitsandbytes on a CPU says it could not fetch an optional kernel from the hub: it runs without
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    functions = logging.getLogger("bitsandbytes.autograd._functions")
    if not any(isinstance(f, OncePerMessage) for f in functions.filters):
        functions.addFilter(OncePerMessage())
    if not is_terminal():  # read by huggingface_hub and transformers when they are imported
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
