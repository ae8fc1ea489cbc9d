"""The IDX file format of the MNIST family (MNIST, Fashion-MNIST, ...), read and written.

An IDX file is a header and one big-endian array. Header: two zero bytes, a type code
(``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32,
``0x0E`` float64), the number of dimensions ``k``, then ``k`` big-endian uint32 sizes.
Image files are ``(count, rows, cols)`` uint8 (16-byte header), label files ``(count,)``
uint8 (8-byte header). Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx"]

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally ``.gz``) into an array of its shape and type.

    A bad header (wrong magic, unknown type code) or a data part shorter or longer than
    the header says raises ``ValueError`` naming the file and, for short data, the first
    incomplete record.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: expected an IDX file, got {path} (missing)")
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'IDX'} "
                         f"({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: header bytes 0-3 are {raw[:4].hex(' ')}, expected "
                         "00 00 <type> <ndim> (the IDX magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise ValueError(f"{path}: header byte 2 is type code 0x{code:02x}, expected one of "
                         + ", ".join(f"0x{c:02x}" for c in _TYPES))
    if ndim == 0:
        raise ValueError(f"{path}: header byte 3 says 0 dimensions, expected at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: header needs {header} bytes for {ndim} dimensions, "
                         f"the file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_TYPES[code])
    record = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    expected = shape[0] * record
    given = len(raw) - header
    if given < expected:
        complete = given // record if record else 0
        raise ValueError(f"{path}: truncated: header says {shape[0]} records of shape "
                         f"{tuple(shape[1:])} ({expected} bytes), found {given} bytes; record "
                         f"{complete} (from 0) is the first incomplete one")
    if given > expected:
        raise ValueError(f"{path}: {given - expected} bytes after the {shape[0]} records the "
                         f"header announces (shape {shape}); the header is likely corrupt")
    data = np.frombuffer(raw, dtype=dtype, offset=header, count=expected // dtype.itemsize)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as IDX (gzip if ``path`` ends in ``.gz``); the inverse of :func:`read_idx`."""
    path = Path(path)
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"array: expected dtype one of {sorted(str(d) for d in codes)}, "
                         f"got {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = array.astype(_TYPES[code]).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + body)
