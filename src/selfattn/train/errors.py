"""The error a config that cannot run raises: at the bottom of ``selfattn.train``, so that
``config`` (which reads the tasks' presets) and the tasks (which check their own options)
both import it downwards."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A config that cannot run; the message names the key, the valid choices and the value."""
