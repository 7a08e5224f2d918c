"""A hub model's config, read before any weights: from a local folder, the Hugging Face cache
(`HF_HUB_OFFLINE` and `HF_HUB_CACHE` honoured, as transformers honours them), or the hub when it is
reachable; an id that is none of these is one ConfigError saying which and how to fix it."""

from __future__ import annotations

from causalgear.config import ConfigError


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Can the Hugging Face endpoint be reached at all? Decided in seconds, where a download
    attempt would spend most of a minute in retries before failing."""
    import socket
    import urllib.parse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urllib.parse.urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout_s).close()
        return True
    except OSError:
        return False


def hub_config(name_or_path: str, revision: str | None):
    """The transformers config of a hub id (or a local folder), cached copy first."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name_or_path, revision=revision, local_files_only=True)
    except (OSError, ValueError):
        pass
    if not hub_reachable():
        raise ConfigError("model.name_or_path", name_or_path,
                          "a local model folder, or a hub id in the Hugging Face cache or on a reachable hub: this id "
                          "is not cached here and the hub is unreachable (HF_HUB_OFFLINE, or no network); download "
                          "it where the hub is reachable, or give the path of a local copy")
    try:
        return AutoConfig.from_pretrained(name_or_path, revision=revision)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError("model.name_or_path", name_or_path, f"a model the hub has ({first})") from None
