"""graph-tool's binary ``.gt`` format (optionally ``.gt.gz``), read and written directly.

Read without installing graph-tool (877 MB). The layout, as documented by graph-tool:

* magic ``e2 9b be 20 67 74`` ("⛾ gt"), version byte ``01``, endianness byte (``00`` little);
* comment: uint64 length + bytes; directed: one byte; ``N``: uint64 number of vertices;
* adjacency: for each vertex, a uint64 count ``k`` and ``k`` out-neighbours, each stored in
  the smallest unsigned type that holds ``N - 1`` (uint8, 16, 32 or 64); edge ``e`` is the
  ``e``-th neighbour entry in this order (an undirected edge is stored once);
* property maps: uint64 count, then for each: key type byte (0 graph, 1 vertex, 2 edge),
  name (uint64 length + bytes), value type byte, and the values (1 for a graph property,
  ``N`` for a vertex one, ``E`` for an edge one).

Value types: 0 bool (1 byte), 1 int16, 2 int32, 3 int64, 4 double, 5 long double
(16 bytes), 6 string, 7-13 vectors of types 0-6 (uint64 length + elements), 14 python
object (a string of pickled bytes; returned as bytes, never unpickled).
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["GtGraph", "read_gt", "write_gt"]

MAGIC = b"\xe2\x9b\xbe gt"
_SCALARS = {0: "u1", 1: "i2", 2: "i4", 3: "i8", 4: "f8", 5: "V16"}


@dataclass
class GtGraph:
    """A graph read from ``.gt``: ``edge_index`` ``(2, E)`` int64 (source row, target row,
    each undirected edge once) and its property maps by name."""

    num_nodes: int
    directed: bool
    edge_index: torch.Tensor
    comment: str = ""
    graph_properties: dict[str, Any] = field(default_factory=dict)
    vertex_properties: dict[str, Any] = field(default_factory=dict)
    edge_properties: dict[str, Any] = field(default_factory=dict)


class _Reader:
    def __init__(self, raw: bytes, path: Path):
        self.raw, self.path, self.at, self.order = raw, path, 0, "<"

    def take(self, size: int, what: str) -> bytes:
        if self.at + size > len(self.raw):
            raise ValueError(f"{self.path}: truncated at byte {self.at} while reading {what} "
                             f"(needs {size} bytes, {len(self.raw) - self.at} left)")
        chunk = self.raw[self.at:self.at + size]
        self.at += size
        return chunk

    def array(self, code: str, count: int, what: str) -> np.ndarray:
        dtype = np.dtype(self.order + code) if code != "V16" else np.dtype("V16")
        return np.frombuffer(self.take(dtype.itemsize * count, what), dtype=dtype)

    def uint64(self, what: str) -> int:
        return int(self.array("u8", 1, what)[0])

    def string(self, what: str) -> bytes:
        return self.take(self.uint64(what + " length"), what)

    def values(self, value_type: int, count: int, what: str) -> Any:
        if value_type in _SCALARS:
            out = self.array(_SCALARS[value_type], count, what)
            if value_type == 5:
                return out  # 80-bit long doubles: kept as raw 16-byte records
            return out.astype(bool) if value_type == 0 else out.astype(out.dtype.newbyteorder("="))
        if value_type in (6, 14):
            items = [self.string(f"{what}[{i}]") for i in range(count)]
            return items if value_type == 14 else [s.decode("utf-8") for s in items]
        if 7 <= value_type <= 13:
            inner = value_type - 7
            return [self.values(inner, self.uint64(f"{what}[{i}] length"), f"{what}[{i}]")
                    for i in range(count)]
        raise ValueError(f"{self.path}: byte {self.at - 1}: unknown value type {value_type} "
                         f"for {what}, expected 0..14")


def read_gt(path: str | Path) -> GtGraph:
    """Parse a ``.gt`` or ``.gt.gz`` file; a malformed file raises naming the byte offset."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: expected a graph-tool .gt file, got {path} (missing)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: broken gzip stream ({error})") from error
    r = _Reader(raw, path)
    magic = r.take(6, "the magic string")
    if magic != MAGIC:
        raise ValueError(f"{path}: starts with {magic!r}, expected {MAGIC!r} (a graph-tool file)")
    version, big_endian = r.take(2, "version and endianness")
    if version != 1:
        raise ValueError(f"{path}: format version {version}, expected 1")
    r.order = ">" if big_endian else "<"
    comment = r.string("comment").decode("utf-8", "replace")
    directed = bool(r.take(1, "directed flag")[0])
    n = r.uint64("the number of vertices")
    width = next(w for w, limit in ((1, 1 << 8), (2, 1 << 16), (4, 1 << 32), (8, 1 << 64))
                 if n <= limit)
    sources, targets = [], []
    for v in range(n):
        k = r.uint64(f"the out-degree of vertex {v}")
        neighbours = r.array(f"u{width}", k, f"the neighbours of vertex {v}").astype(np.int64)
        if k and int(neighbours.max()) >= n:
            raise ValueError(f"{path}: vertex {v} has neighbour {int(neighbours.max())}, "
                             f"expected < {n} (the number of vertices)")
        sources.append(np.full(k, v, dtype=np.int64))
        targets.append(neighbours)
    edge_index = torch.from_numpy(np.stack([np.concatenate(sources or [np.zeros(0, np.int64)]),
                                            np.concatenate(targets or [np.zeros(0, np.int64)])]))
    graph = GtGraph(n, directed, edge_index, comment)
    counts = {0: 1, 1: n, 2: edge_index.shape[1]}
    stores = {0: graph.graph_properties, 1: graph.vertex_properties, 2: graph.edge_properties}
    for _ in range(r.uint64("the number of property maps")):
        key_type = r.take(1, "a property key type")[0]
        if key_type not in counts:
            raise ValueError(f"{path}: byte {r.at - 1}: property key type {key_type}, "
                             "expected 0 (graph), 1 (vertex) or 2 (edge)")
        name = r.string("a property name").decode("utf-8")
        value_type = r.take(1, f"the value type of {name!r}")[0]
        value = r.values(value_type, counts[key_type], f"property {name!r}")
        stores[key_type][name] = value[0] if key_type == 0 else value
    if r.at != len(raw):
        raise ValueError(f"{path}: {len(raw) - r.at} unread bytes after the last property map")
    return graph


def write_gt(path: str | Path, num_nodes: int, edge_index: torch.Tensor, directed: bool = False,
             vertex_int_properties: dict[str, Any] | None = None, comment: str = "") -> None:
    """Write a graph (and int64 vertex properties) as ``.gt``/``.gt.gz``: for tests and for
    exporting; the inverse of :func:`read_gt` for these parts."""
    edges = torch.as_tensor(edge_index, dtype=torch.long)
    width = next(w for w, limit in ((1, 1 << 8), (2, 1 << 16), (4, 1 << 32), (8, 1 << 64))
                 if num_nodes <= limit)
    out = [MAGIC, b"\x01\x00", struct.pack("<Q", len(comment.encode())), comment.encode(),
           bytes([int(directed)]), struct.pack("<Q", num_nodes)]
    order = torch.argsort(edges[0], stable=True)
    sources, targets = edges[0][order].numpy(), edges[1][order].numpy()
    for v in range(num_nodes):
        mine = targets[sources == v]
        out += [struct.pack("<Q", len(mine)), mine.astype(f"<u{width}").tobytes()]
    properties = vertex_int_properties or {}
    out.append(struct.pack("<Q", len(properties)))
    for name, values in properties.items():
        out += [b"\x01", struct.pack("<Q", len(name.encode())), name.encode(), b"\x03",
                np.asarray(values, dtype="<i8").tobytes()]
    data = b"".join(out)
    Path(path).write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)
