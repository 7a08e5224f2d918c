"""What a run prints: our own lines, progress bars only on a terminal, no third-party chatter.

Progress bars written to a file or a pipe are carriage-return noise (hundreds of kB for one
run), so every bar is `bar(...)`: tqdm with `disable=None`, which draws only on a terminal. A
long step prints a plain line instead where there is no terminal (`plain`).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

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


def quiet_lightning() -> None:
    """Lightning's INFO lines ("GPU available", the LitLogger tip, checkpoint loading notes) off. Call
    it after importing Lightning, which sets its own logger's level when imported."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_utilities", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def quiet_libraries() -> None:
    """Keep tips, deprecation notices and download bars of the libraries we drive out of a run's output."""
    # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates, on every batch
    warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(lightning|torch|wandb|transformers)\b")
    os.environ.setdefault("WANDB_SILENT", "true")
    if not is_terminal():
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging as hf_logging

        disable_progress_bars()
        hf_logging.disable_progress_bar()
