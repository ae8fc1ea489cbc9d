"""Hypothesis profiles for the whole suite.

``ci`` (the default): the same examples on every run (``derandomize=True``, no example
database), so a pass is stable and a failure reproduces from its printed blob
(``print_blob=True``); no deadline, since the cores are shared and timings vary.

``thorough``: random examples, each property test runs ``THOROUGH_FACTOR`` times its
examples, and failures are kept in the example database to be replayed first. Select it
with ``HYPOTHESIS_PROFILE=thorough`` or ``pytest --hypothesis-profile thorough``.

A test's own ``@settings(max_examples=N)`` sets its count under ``ci``; everything else it
does not name (``derandomize``, ``database``, ``print_blob``...) comes from the profile, since
this file loads the profile before any test module builds its settings. ``thorough``
multiplies that ``N`` too (``pytest_collection_modifyitems`` below), so per-test counts keep
their proportions. Tests that size themselves from ``settings.default.max_examples`` see 100
under both profiles and are scaled like the others.
"""

from __future__ import annotations

import os

from hypothesis import settings

THOROUGH_FACTOR = 10

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("thorough", derandomize=False, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _profile(config) -> str:
    # --hypothesis-profile (hypothesis' own pytest option) wins over the environment.
    return config.getoption("hypothesis_profile", None) or os.environ.get("HYPOTHESIS_PROFILE", "ci")


def pytest_report_header(config) -> str:
    name = _profile(config)
    extra = f", examples x{THOROUGH_FACTOR}" if name == "thorough" else ""
    return f"hypothesis profile: {name}{extra}"


def pytest_collection_modifyitems(config, items) -> None:
    if _profile(config) != "thorough":
        return
    for item in items:
        test = getattr(item, "obj", None)
        # A @given test carries the settings it runs under; without them (another
        # hypothesis version) it keeps its count and is only un-derandomised.
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if getattr(test, "hypothesis", None) is None or own is None:
            continue
        test._hypothesis_internal_use_settings = settings(
            own, max_examples=own.max_examples * THOROUGH_FACTOR)
