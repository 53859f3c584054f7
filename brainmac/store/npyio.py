"""Flat ``.npy`` files with a fixed 128-byte header: appended in pieces, mapped when read.

Every array of a store is one ``.npy`` file (format 1.0, C order, little-endian) whose header
is always exactly :data:`HEADER_BYTES` long, padded with spaces. Fixing the length lets a
writer append an array of unknown final length piece by piece and then rewrite the header
in place with the final shape; it also lets a reader compare the header byte for byte with
the one the manifest implies. ``numpy.load`` reads the files as any other ``.npy``.

The checksum of an array is BLAKE2b (32-byte digest) over its data bytes, i.e. the file
after the header; the header itself is checked exactly on every open.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path

import numpy as np

from brainmac.errors import StoreError

HEADER_BYTES = 128  # a multiple of 64: the data that follows is aligned
MAGIC = b"\x93NUMPY\x01\x00"
CHECKSUM = "blake2b-256 over each file's data bytes (after the 128-byte .npy header)"
_READ_BYTES = 1 << 24  # chunk of a checksum pass


def new_hash():
    """The hash object of a store checksum."""
    return hashlib.blake2b(digest_size=32)


def header_bytes(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The exact header of an array of ``dtype`` and ``shape`` (``HEADER_BYTES`` long)."""
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    dims = tuple(int(n) for n in shape)
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {dims!r}, }}"
    body_len = HEADER_BYTES - len(MAGIC) - 2
    if len(text) + 1 > body_len:
        raise ValueError(f"npy header for shape {shape} does not fit {HEADER_BYTES} bytes")
    return MAGIC + struct.pack("<H", body_len) + (text.ljust(body_len - 1) + "\n").encode()


class AppendFile:
    """An ``.npy`` file written in pieces; its shape is set by :meth:`finish`.

    Parameters
    ----------
    path : Path
        File to create.
    dtype : numpy dtype
        Element type; appended arrays are converted to it (exactly: values must fit).
    """

    def __init__(self, path: Path, dtype: np.dtype) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.count = 0
        self.hash = new_hash()
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed by finish)
        self._file.write(header_bytes(self.dtype, (0,)))

    def append(self, values: np.ndarray) -> None:
        """Append ``values`` (flattened in C order)."""
        data = np.ascontiguousarray(values, dtype=self.dtype).reshape(-1)
        view = memoryview(data).cast("B")
        self._file.write(view)
        self.hash.update(view)
        self.count += data.size

    def finish(self, shape: tuple[int, ...] | None = None) -> dict:
        """Write the header with the final ``shape`` (default: 1-D), fsync and close.

        Returns the manifest entry: file, dtype, shape and checksum.
        """
        shape = (self.count,) if shape is None else tuple(int(n) for n in shape)
        if int(np.prod(shape, dtype=np.int64)) != self.count:
            raise ValueError(f"{self.path}: {self.count} elements do not make shape {shape}")
        self._file.seek(0)
        self._file.write(header_bytes(self.dtype, shape))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return entry(self.path, self.dtype, shape, self.hash.hexdigest())

    def abandon(self) -> None:
        """Close without finishing (the caller removes the file)."""
        self._file.close()


def entry(path: Path, dtype: np.dtype, shape: tuple[int, ...], digest: str) -> dict:
    """A manifest's description of one array file."""
    return {"file": Path(path).name, "dtype": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "shape": [int(n) for n in shape], "blake2b": digest}


def write_array(path: Path, values: np.ndarray) -> dict:
    """Write a whole array (any shape) and return its manifest entry."""
    values = np.asarray(values)
    out = AppendFile(path, values.dtype)
    out.append(values)
    return out.finish(values.shape)


def _describe_header(head: bytes) -> str:
    """What a header that is not the expected one says, for an error message."""
    import io

    try:
        stream = io.BytesIO(head)
        if np.lib.format.read_magic(stream) != (1, 0):
            return "its .npy header is not format 1.0"
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            stream, max_header_size=HEADER_BYTES)
    except Exception:  # any damage: the header does not parse  # noqa: BLE001
        return "its .npy header is damaged or not a .npy header"
    if fortran:
        return "it is stored in Fortran order"
    return f"its header says dtype {dtype.str} shape {tuple(shape)}"


def check_regular(path: Path) -> None:
    """Refuse anything but a regular file (a FIFO or a device could block or never end)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise StoreError(f"{path}: not a regular file")


def map_array(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Check ``path``'s header and size against (dtype, shape), then map it read-only.

    Raises
    ------
    StoreError
        Missing file, a header that is not exactly the expected one, or a file shorter
        (truncated) or longer than header + data. The message names the file.
    """
    dtype = np.dtype(dtype)
    expected = header_bytes(dtype, shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    try:
        check_regular(path)
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise StoreError(f"{path}: array file is missing") from None
    except OSError as err:
        raise StoreError(f"{path}: cannot read ({err.strerror})") from None
    if head != expected:
        raise StoreError(f"{path}: the manifest says dtype {dtype.str} shape {tuple(shape)} "
                         f"but {_describe_header(head)}")
    if size != HEADER_BYTES + nbytes:
        what = "truncated" if size < HEADER_BYTES + nbytes else "longer than its shape"
        raise StoreError(f"{path}: file is {what}: {size} bytes, expected "
                         f"{HEADER_BYTES + nbytes} for dtype {dtype.str} shape {tuple(shape)}")
    if nbytes == 0:
        empty = np.zeros(shape, dtype)
        empty.setflags(write=False)
        return empty
    return np.asarray(np.memmap(path, dtype, "r", offset=HEADER_BYTES, shape=tuple(shape)))


def file_digest(path: Path) -> str:
    """The checksum of an array file's data bytes (read in chunks)."""
    h = new_hash()
    check_regular(path)
    with open(path, "rb") as f:
        f.seek(HEADER_BYTES)
        while chunk := f.read(_READ_BYTES):
            h.update(chunk)
    return h.hexdigest()
