"""What every config group's checks share: the error, and range checks that name the key."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A config value that is not allowed. The message is one line: key, value, what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


def _positive(group: str, obj: Any, *names: str) -> None:
    for name in names:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"{group}.{name}", v, "an integer > 0")


def _at_least(key: str, value: float, low: float, allowed: str, strict: bool = False) -> None:
    if value < low or (strict and value == low):
        raise ConfigError(key, value, allowed)
