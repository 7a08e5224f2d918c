"""Errors a user can fix; the CLI prints their one-line message and exits 2. No torch import here."""


class CausalgearError(RuntimeError):
    """Base of the errors whose message is the whole story."""


class ModelLoadError(CausalgearError):
    """The model cannot be loaded; the message says which and why."""


class CorruptStore(CausalgearError):
    """An activation store whose files do not match its manifest."""
