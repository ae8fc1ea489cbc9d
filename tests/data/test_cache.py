"""The cache's fetchers: no shell reads a path or a name, and a shared package counts as cached.

The Debian and PyPI clients are faked (a script first on ``PATH``; a package built here
with ``dpkg-deb --build``), so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from selfattn.data import fetch, is_cached, load_node_classification, write_gt
from selfattn.data.cache import cache_dir, cached_debian_package, debian_package
from selfattn.data.registry import REGISTRY

HOSTILE = "x'$(touch PWNED)"
GRAPH_PACKAGE = REGISTRY["football"].source[1]  # python3-graph-tool, shared with polblogs/polbooks


def _fake_apt_get(folder: Path, log: Path) -> None:
    """An ``apt-get`` that records its argv (JSON) and 'downloads' NAME_1.0_all.deb into its cwd."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "apt-get"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib, sys\n"
        f"pathlib.Path({str(log)!r}).write_text(json.dumps(sys.argv[1:]))\n"
        "pathlib.Path(sys.argv[-1] + '_1.0_all.deb').write_bytes(b'!<arch>\\n')\n",
        encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_a_hostile_cache_path_and_name_reach_apt_get_as_plain_arguments(tmp_path, monkeypatch):
    cache = tmp_path / HOSTILE
    monkeypatch.setenv("SELFATTN_CACHE", str(cache))
    bin_dir, log = tmp_path / "bin", tmp_path / "argv.json"
    _fake_apt_get(bin_dir, log)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    package = "pkg$(touch PWNED)"  # a name no shell may expand either
    deb = debian_package(package)
    assert json.loads(log.read_text()) == ["download", package]  # one argv element each
    assert deb == cache / "debian" / f"{package}_1.0_all.deb" and deb.is_file()
    assert not [p for p in tmp_path.rglob("PWNED")], "a shell ran the command"
    assert debian_package(package) == deb  # cached: apt-get is not called again
    log.unlink()
    debian_package(package)
    assert not log.exists()


def _graph_deb(folder: Path, graphs: dict[str, list[int]]) -> Path:
    """A real ``.deb`` named like python3-graph-tool's, holding ``NAME.gt.gz`` files."""
    root = folder / "pkg"
    member = root / REGISTRY["football"].files["football.gt.gz"].rsplit("/", 1)[0]
    member.mkdir(parents=True)
    for name, values in graphs.items():
        n = len(values)
        edges = torch.tensor([list(range(n - 1)), list(range(1, n))])
        write_gt(member / f"{name}.gt.gz", n, edges, vertex_int_properties={"value": values})
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {GRAPH_PACKAGE}\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@t>\n"
        "Description: test graphs\n", encoding="utf-8")
    deb = folder / f"{GRAPH_PACKAGE}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_graphs_sharing_one_cached_deb_are_all_cached(tmp_cache, tmp_path):
    # fetching polblogs leaves the .deb in the cache and polblogs.gt.gz extracted; football
    # and polbooks are then one extraction away, no download: 'cached'
    deb = _graph_deb(tmp_path, {"polblogs": [0, 1, 0, 1], "polbooks": [0, 1, 2],
                                "football": [3, 3, 4, 4, 5]})
    for name in ("polblogs", "polbooks", "football"):
        assert not is_cached(name)
    shutil.copy(deb, cache_dir("debian"))
    assert cached_debian_package(GRAPH_PACKAGE) == tmp_cache / "debian" / deb.name
    fetch("polblogs")
    assert (tmp_cache / "polblogs" / "polblogs.gt.gz").is_file()
    assert not (tmp_cache / "football" / "football.gt.gz").exists()
    assert is_cached("football") and is_cached("polbooks")
    football = load_node_classification("football")  # extracted from the cached .deb
    assert football.classes == [3, 4, 5] and football.info["nodes"] == 5
    assert (tmp_cache / "football" / "football.gt.gz").is_file()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_a_broken_cached_deb_is_one_error_naming_it(tmp_cache):
    bad = cache_dir("debian") / f"{GRAPH_PACKAGE}_1.0_all.deb"
    bad.write_bytes(b"!<arch>\nnot a deb")
    from selfattn.data.cache import DataUnavailableError

    with pytest.raises(DataUnavailableError, match=rf"{bad.name}: not a readable \.deb"):
        fetch("football")
