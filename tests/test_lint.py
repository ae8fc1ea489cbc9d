"""The code passes ruff with the project's configuration (pyproject.toml), and runs no shell."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A command given to a shell as one string lets a path or a name run commands (an
# SELFATTN_CACHE of "x'$(touch PWNED)"): every subprocess takes an argument list.
SHELL_STRINGS = {
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "a shell's -c": re.compile(r"""\b(ba|z|da)?sh\s+-c\b|["'](/bin/)?(ba|z|da)?sh["']\s*,\s*["']-c["']"""),
    "os.system / os.popen": re.compile(r"\bos\s*\.\s*(system|popen)\s*\("),
    "a subprocess given a string": re.compile(
        r"\bsubprocess\s*\.\s*(run|call|check_call|check_output|Popen|getoutput|getstatusoutput)\s*\(\s*"
        r"(f|r|rf|fr)?[\"']"),
    "subprocess.getoutput": re.compile(r"\bsubprocess\s*\.\s*get(status)?output\b"),
}


def test_ruff_passes():
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    paths = ["src", "tests", "benchmarks", "examples", "docs"]
    res = subprocess.run([sys.executable, "-m", "ruff", "check", *paths], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def shell_strings(text: str) -> list[tuple[int, str, str]]:
    """``(line, what, source line)`` for each command handed to a shell as a string."""
    return [(number, what, line.strip()) for number, line in enumerate(text.splitlines(), 1)
            for what, pattern in SHELL_STRINGS.items() if pattern.search(line)]


def test_the_shell_patterns_catch_what_they_name():
    bad = ['subprocess.run(cmd, shell=True)', 'command = ["bash", "-c", f"cd {p!r} && x"]',
           'os.system("rm " + path)', 'subprocess.check_output(f"apt-get download {name}")',
           "subprocess.Popen('ls', cwd=d)", 'run("sh -c ls")', "os.popen(cmd)"]
    assert [len(shell_strings(line)) >= 1 for line in bad] == [True] * len(bad)
    good = ['subprocess.run(["apt-get", "download", package], cwd=debs, check=False)',
            'subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)',
            "done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)"]
    assert [shell_strings(line) for line in good] == [[]] * len(good)


def test_no_command_reaches_a_shell_as_a_string():
    found = [f"{path.relative_to(ROOT)}:{number}: {what}: {line}"
             for path in sorted((ROOT / "src").rglob("*.py"))
             for number, what, line in shell_strings(path.read_text(encoding="utf-8"))]
    assert not found, "use an argument list (subprocess.run([...], cwd=...)):\n" + "\n".join(found)
