"""No dead code in ``src/selfattn``: vulture finds no unused name at confidence >= 60.

Vulture parses (never imports) ``src/selfattn`` together with the places that may be the only
users of a public name (tests, benchmarks, examples) and ``tests/vulture_whitelist.py``, the names
used where a parser cannot see it (Lightning hooks, attributes read by third-party objects), each
with its reason. Only findings inside ``src/selfattn`` count. Functions registered on a
``functools.singledispatch`` dispatcher (``@plan_tiles.register`` and the like) are called by the
dispatcher, so the ``@*.register`` decorator exempts them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "selfattn"
USERS = [ROOT / "tests", ROOT / "benchmarks", ROOT / "examples"]
WHITELIST = ROOT / "tests" / "vulture_whitelist.py"
MIN_CONFIDENCE = 60


def unused(paths: list[Path], inside: Path = SOURCE) -> list[str]:
    """``"path:line: message"`` for each name that vulture, reading ``paths`` and the whitelist, finds
    unused in a file under ``inside``."""
    vulture = pytest.importorskip("vulture", reason="vulture is not installed: pip install -e '.[dev]'")
    v = vulture.Vulture(ignore_decorators=["@*.register"])
    v.scavenge([str(p) for p in [*paths, WHITELIST]])
    inside = inside.resolve()
    return [f"{Path(item.filename).resolve().relative_to(inside.parent)}:{item.first_lineno}: "
            f"{item.message} ({item.confidence}% confidence)"
            for item in v.get_unused_code(min_confidence=MIN_CONFIDENCE)
            if Path(item.filename).resolve().is_relative_to(inside)]


def test_no_dead_code_in_source():
    start = time.perf_counter()
    found = unused([SOURCE, *USERS])
    assert not found, ("unused code (delete it, or add it to tests/vulture_whitelist.py with the reason "
                       "it is used):\n" + "\n".join(found))
    assert time.perf_counter() - start < 10


PLANTED = """\
import functools


@functools.singledispatch
def plan(pattern):
    return called_helper(pattern)


@plan.register
def _plan_int(pattern: int):
    return pattern


def called_helper(x):
    return x


def never_called_anywhere(x):
    return x
"""


def test_an_unused_function_is_found_and_a_registered_one_is_not(tmp_path):
    # Planted in a temporary folder, not in src/selfattn, so that no other test run sees it.
    planted = tmp_path / "planted.py"
    planted.write_text(PLANTED)
    found = unused([planted], inside=tmp_path)
    assert len(found) == 1 and "unused function 'never_called_anywhere'" in found[0], found
