"""Read and write IDX files, the format of MNIST, Fashion-MNIST and KMNIST.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type, ``NN`` the
number of dimensions), ``NN`` big-endian uint32 dimension sizes, then the elements in C order,
big-endian. Files may be gzip-compressed; compression is detected from the gzip magic bytes,
not from the file name, so a renamed file still reads.

Every problem with a file (missing, unreadable, corrupt gzip stream, bad header, truncated,
trailing bytes) is raised as `bioclf.errors.DataError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from bioclf.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

#: IDX element-type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """Return the content of an IDX file, decompressed if it is gzip-compressed.

    Parameters
    ----------
    path : str or PathLike
        The file, gzip-compressed or raw.

    Returns
    -------
    bytes
        The uncompressed IDX content (header and data).

    Raises
    ------
    DataError
        If the file is missing or unreadable, or its gzip stream is corrupt or truncated.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read: {exc.strerror or exc}") from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        # gzip reports a stream cut short as EOFError, the usual sign of an interrupted download.
        raise DataError(
            path, f"gzip stream is truncated ({len(raw)} compressed bytes; file cut short?)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(path, f"corrupt gzip stream: {exc}") from None


def parse_idx(buf: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX content into an array of the declared shape.

    Parameters
    ----------
    buf : bytes
        Uncompressed IDX content, as returned by `read_idx_bytes`.
    path : str or PathLike, optional
        The file the content came from, used only in error messages.

    Returns
    -------
    numpy.ndarray
        A writable, native-byte-order array with the shape and element type of the header.

    Raises
    ------
    DataError
        On a bad magic number, an unknown element-type code, zero dimensions, fewer bytes than
        the header declares, or bytes after the declared data.
    """
    size = len(buf)
    if size < 4:
        raise DataError(path, f"truncated: expected at least a 4-byte IDX header, found {size}")
    if buf[0] != 0 or buf[1] != 0:
        raise DataError(
            path,
            f"bad magic number 0x{buf[:4].hex()}: an IDX file starts with two zero bytes "
            "(not an IDX file, or compressed in a format other than gzip?)",
        )
    code, ndim = buf[2], buf[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(path, f"unknown IDX element-type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(path, "IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if size < header:
        raise DataError(
            path, f"truncated: header of {ndim} dimensions needs {header} bytes, found {size}"
        )
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    count = int(np.prod(shape, dtype=np.int64))
    expected = header + count * dtype.itemsize
    if size < expected:
        raise DataError(
            path,
            f"truncated: header declares shape {shape} of {dtype.name}, which needs "
            f"{expected} bytes (uncompressed), but the file has {size}",
        )
    if size > expected:
        raise DataError(
            path,
            f"{size - expected} unexpected bytes after the data: header declares shape {shape} "
            f"({expected} bytes), file has {size}",
        )
    data = np.frombuffer(buf, dtype=dtype, count=count, offset=header)
    # astype copies: the result is writable (frombuffer over bytes is not) and native-endian.
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into an array of its declared shape.

    Parameters
    ----------
    path : str or PathLike
        The file.

    Returns
    -------
    numpy.ndarray
        The data, native byte order.

    Raises
    ------
    DataError
        If the file is missing, unreadable, corrupt, truncated, has trailing bytes, a bad magic
        number or an unknown element type.
    """
    return parse_idx(read_idx_bytes(path), path)


def read_checked_idx(
    path: str | os.PathLike, expected_md5: str | None
) -> tuple[np.ndarray, str | None]:
    """Read an IDX file and compare its content with an md5 checksum.

    The content is parsed before its checksum is compared: "truncated, expected X bytes" says
    more than an md5 that differs. The caller words the mismatch (loading or downloading).

    Parameters
    ----------
    path : str or PathLike
        The file, gzip-compressed or raw.
    expected_md5 : str or None
        The md5 of the uncompressed content; None: not checked.

    Returns
    -------
    array : numpy.ndarray
        The data, as `read_idx` returns it.
    mismatch : str or None
        The md5 found where it is not `expected_md5` (`md5_mismatch`), else None.

    Raises
    ------
    DataError
        As `read_idx`, naming `path`.
    """
    content = read_idx_bytes(path)
    array = parse_idx(content, path)
    return array, md5_mismatch(content, expected_md5)


def encode_idx(array: np.ndarray) -> bytes:
    """Return the uncompressed IDX encoding of `array`.

    Parameters
    ----------
    array : numpy.ndarray
        At least one dimension; dtype uint8, int8, int16, int32, float32 or float64.

    Returns
    -------
    bytes
        Header and big-endian data.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = (
        bytes([0, 0, _CODES[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    )
    return header + np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` as an IDX file.

    Parameters
    ----------
    path : str or PathLike
        Destination.
    array : numpy.ndarray
        See `encode_idx`.
    compress : bool, optional
        Gzip-compress the file; by default, if and only if `path` ends in ``.gz``.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    data = encode_idx(array)
    if compress if compress is not None else path.suffix == ".gz":
        # mtime=0 so that the same array always gives the same bytes.
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def md5_mismatch(content: bytes, expected: str | None) -> str | None:
    """The md5 of `content` (a file's uncompressed bytes) where it is not `expected`; None
    where it is, or where nothing is expected."""
    if expected is None:
        return None
    actual = hashlib.md5(content, usedforsecurity=False).hexdigest()
    return None if actual == expected.lower() else actual
