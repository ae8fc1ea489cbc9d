"""mkdocs hook: links from the docs to repository files outside docs/ stay valid on the site.

docs/results.md (shared with the repository view) links to files such as
``../benchmarks/results/task_baselines.json``; a site built from docs/ alone does not carry
them, so ``mkdocs build --strict`` would stop on the broken link. Each such file that
exists is copied into the site under ``_repo/`` and the link is pointed at the copy; a
link to a folder of docs/ with no index page is pointed at the folder's files listed on a
generated page. Every other link is checked by mkdocs as usual (``--strict``).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s#]+)(#[^)\s]*)?\)")
_REPO_PREFIX = "_repo"


def _outside_targets(config) -> dict[str, Path]:
    """``docs-relative uri -> file`` for every relative link that leaves docs/."""
    docs = Path(config["docs_dir"]).resolve()
    found: dict[str, Path] = {}
    for page in docs.rglob("*.md"):
        for match in _LINK.finditer(page.read_text(encoding="utf-8")):
            target = match.group(2)
            if "://" in target or target.startswith(("/", "mailto:")):
                continue
            path = (page.parent / target).resolve()
            if path.is_file() and docs not in path.parents:
                found[str(path)] = path
    return found


def _repo_uri(config, path: Path) -> str:
    root = Path(config["docs_dir"]).resolve().parent
    return f"{_REPO_PREFIX}/{path.relative_to(root).as_posix()}"


def on_files(files, config):
    for path in _outside_targets(config).values():
        files.append(File.generated(config, _repo_uri(config, path), abs_src_path=str(path)))
    docs = Path(config["docs_dir"]).resolve()
    for folder in _folder_targets(docs):
        uri = f"{folder.relative_to(docs).as_posix()}/index.md"
        if files.get_file_from_path(uri) is None:
            items = sorted(p for p in folder.rglob("*") if p.is_file())
            lines = [f"# {folder.relative_to(docs).as_posix()}/", ""]
            names = [p.relative_to(folder).as_posix() for p in items]
            lines += [f"- [{name}]({name})" for name in names]
            files.append(File.generated(config, uri, content="\n".join(lines) + "\n"))
    return files


def _folder_targets(docs: Path) -> list[Path]:
    out = set()
    for page in docs.rglob("*.md"):
        for match in _LINK.finditer(page.read_text(encoding="utf-8")):
            path = (page.parent / match.group(2)).resolve()
            if path.is_dir() and docs in path.parents and not (path / "index.md").is_file():
                out.add(path)
    return sorted(out)


def on_page_markdown(markdown, page, config, files):
    docs = Path(config["docs_dir"]).resolve()
    here = (docs / page.file.src_uri).parent

    def relink(match: re.Match) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        path = (here / target).resolve()
        if path.is_file() and docs not in path.parents:
            uri = _repo_uri(config, path)
            target = posixpath.relpath(uri, posixpath.dirname(page.file.src_uri) or ".")
        elif path.is_dir() and docs in path.parents and not (path / "index.md").is_file():
            target = target.rstrip("/") + "/index.md"
        return f"{match.group(1)}{target}{match.group(3) or ''})"

    return _LINK.sub(relink, markdown)
