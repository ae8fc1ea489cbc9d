"""A run's directory: claimed atomically, with a ``status.json`` saying where the run stands.

``run_directory(cfg)`` makes ``run.dir`` or the first free ``<run.root>/<preset>``
(``-2``, ``-3``...) and creates its ``status.json`` with ``O_EXCL`` in one step each, so
runs started at the same moment never share a directory; ``status.json`` then says
``running``, ``done`` or ``failed`` (with the error), and who runs it (pid, host).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .errors import ConfigError

__all__ = ["STATUS", "check_resumable", "run_directory", "run_status", "set_status"]

STATUS = "status.json"


def _claim(folder: Path) -> bool:
    """Create ``folder/status.json`` if no run holds ``folder`` (atomic: ``O_EXCL``)."""
    if (folder / "config.yaml").exists():  # a run made before status files existed
        return False
    try:
        fd = os.open(folder / STATUS, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(_status_record("running")))
    return True


def _status_record(status: str, error: str | None = None) -> dict:
    record = {"status": status, "pid": os.getpid(), "host": socket.gethostname(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if error:
        record["error"] = error
    return record


def run_status(folder: str | Path) -> dict:
    """A run directory's ``status.json`` (``running``, ``done`` or ``failed``; ``{}`` if none)."""
    path = Path(folder) / STATUS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def set_status(folder: Path, status: str, error: str | None = None) -> None:
    from .callbacks import atomic_write_text

    atomic_write_text(folder / STATUS, json.dumps(_status_record(status, error)))


def run_directory(cfg: dict) -> Path:
    """Claim ``run.dir`` (it must not hold a run), or the first free ``<run.root>/<preset>``,
    ``-2``, ``-3``...: the folder is made and ``status.json`` created in one atomic step
    each, so runs started at the same moment never share a directory."""
    if cfg["run"]["dir"]:
        folder = Path(cfg["run"]["dir"])
        folder.mkdir(parents=True, exist_ok=True)
        if not _claim(folder):
            held = run_status(folder).get("status", "done")
            raise ConfigError(f"run.dir: {folder} already holds a run (status: {held}); pass --resume "
                              f"{folder} to continue it, or choose another run.dir")
        return folder
    base = Path(cfg["run"]["root"]) / cfg["preset"]
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            n += 1
            continue
        if _claim(folder):
            return folder
        n += 1


def check_resumable(folder: Path) -> None:
    status = run_status(folder)
    if status.get("status") == "running" and status.get("host") == socket.gethostname() \
            and _alive(int(status.get("pid", 0))):
        raise ConfigError(f"--resume: {folder} is being trained now (process {status['pid']}); "
                          "wait for it or stop it first")


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
