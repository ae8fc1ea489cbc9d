"""``selfattn data list`` and ``selfattn data get NAME``: the data-set registry on the command line.

``add_subparser(subparsers)`` adds the ``data`` command to the main ``selfattn`` parser;
the handler is stored as the ``func`` default, called with the parsed arguments, and
returns an exit status. ``main(argv)`` runs the ``data`` command on its own.
"""

from __future__ import annotations

import argparse
import sys

from .cache import DataUnavailableError, cache_dir
from .registry import REGISTRY, fetch, is_cached

__all__ = ["add_subparser", "main"]


def _list(args: argparse.Namespace) -> int:
    rows = [("name", "task", "size", "download", "licence", "cached")]
    for name in sorted(REGISTRY):
        entry = REGISTRY[name]
        download = f"{entry.download_mb:.1f} MB" if entry.download_mb else "-"
        rows.append((name, entry.task, entry.size, download, entry.licence,
                     "yes" if is_cached(name) else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(row)))
    print(f"\ncache: {cache_dir()} (set SELFATTN_CACHE to move it)")
    return 0


def _get(args: argparse.Namespace) -> int:
    names = sorted(REGISTRY) if args.name == ["all"] else args.name
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        print(f"selfattn data get: unknown data set {unknown[0]!r}; expected one of "
              f"{', '.join(sorted(REGISTRY))} or 'all'", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        try:
            folder = fetch(name)
        except DataUnavailableError as error:
            print(f"{name}: not available: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: {folder}")
    return status


_DATA_HELP = """\
List and fetch the data sets selfattn knows.

examples:
  selfattn data list
  selfattn data get karate glove-6b-50d
"""

_LIST_HELP = """\
Each data set's name, task, size, download, licence and whether it is cached.

example:
  selfattn data list
"""

_GET_HELP = """\
Fetch data sets into the cache (SELFATTN_CACHE moves it), printing each one's folder.

examples:
  selfattn data get karate
  selfattn data get all
"""


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Add ``data`` (with ``list`` and ``get``) to an ``argparse`` sub-parser collection."""
    raw = argparse.RawDescriptionHelpFormatter
    data = subparsers.add_parser("data", help="list and fetch the real data sets", formatter_class=raw,
                                 description=_DATA_HELP)
    commands = data.add_subparsers(dest="data_command", required=True)
    listing = commands.add_parser("list", help="name, task, size, licence and cache state",
                                  formatter_class=raw, description=_LIST_HELP)
    listing.set_defaults(func=_list)
    get = commands.add_parser("get", help="fetch data sets into the cache", formatter_class=raw,
                              description=_GET_HELP)
    get.add_argument("name", nargs="+", help="data set name(s) from 'selfattn data list', or all")
    get.set_defaults(func=_get)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="selfattn")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
