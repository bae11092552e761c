"""Download data files, verifying each before it is put in place.

A file is streamed to a temporary file in the destination directory, checked against its MD5
(of the *uncompressed* content, so the same checksum serves a gzip and a raw copy) and only
then renamed into place, atomically. An interrupted or corrupt download therefore never leaves
a file that a later run would mistake for good data.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from bioclf.data.idx import read_checked_idx
from bioclf.errors import DataError
from bioclf.io import atomic

_CHUNK = 1 << 16


def _expected_md5(checksums: Mapping[str, str] | None, filename: str) -> str | None:
    # Checksums are keyed by the uncompressed file's name; accept the .gz name too.
    if not checksums:
        return None
    return checksums.get(filename) or checksums.get(filename.removesuffix(".gz"))


def _download(url: str, dest: Path, out, timeout: float, progress: bool) -> None:
    """Stream `url` into the open binary file `out`, reporting progress every ~10 %."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if progress:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            print(f"downloading {url}{size}", file=sys.stderr, flush=True)
        received, next_report = 0, 10
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
            if progress and total:
                percent = 100 * received // total
                if percent >= next_report:
                    print(f"  {dest.name}: {percent}%", file=sys.stderr, flush=True)
                    next_report = (percent // 10 + 1) * 10
    if total is not None and received != total:
        raise DataError(
            dest, f"download from {url} incomplete: expected {total} bytes, received {received}"
        )


def fetch(
    url_base: str,
    root: str | os.PathLike,
    files: Iterable[str],
    checksums: Mapping[str, str] | None,
    timeout: float = 60,
    progress: bool = True,
) -> list[Path]:
    """Download the files among `files` that are not yet in `root`.

    Parameters
    ----------
    url_base : str
        URL of the directory holding the files; each is fetched from ``url_base + "/" + name``.
    root : str or PathLike
        Destination directory, created if needed.
    files : iterable of str
        File names, e.g. ``"t10k-labels-idx1-ubyte.gz"``.
    checksums : mapping of str to str, optional
        MD5 (hex) of the uncompressed content, keyed by file name with or without ``.gz``.
        A file without a checksum is only checked to decompress cleanly if it is gzip and to
        be an IDX file of the length its header declares.
    timeout : float, optional
        Socket timeout in seconds.
    progress : bool, optional
        Print progress to standard error.

    Returns
    -------
    list of Path
        The files downloaded (those already present are skipped).

    Raises
    ------
    DataError
        If a download fails, is incomplete, is a corrupt gzip stream, is not an IDX file (a
        server's error page) or fails its checksum. The temporary file is deleted and nothing
        is left at the destination.
    """
    root = Path(root)
    base = url_base.rstrip("/")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(root, f"cannot create directory: {exc.strerror or exc}") from None
    fetched = []
    for name in files:
        dest = root / name
        if dest.exists():
            continue
        url = f"{base}/{name}"
        # The temporary file lives in `root` so that os.replace is a same-filesystem rename;
        # `atomic` names it after this process and removes those of killed downloads.
        tmp = None
        try:
            with atomic(dest) as tmp:
                try:
                    out = open(tmp, "wb")
                except OSError as exc:
                    raise DataError(
                        root, f"cannot write to directory: {exc.strerror or exc}"
                    ) from None
                with out:
                    try:
                        _download(url, dest, out, timeout, progress)
                    except urllib.error.HTTPError as exc:
                        raise DataError(
                            dest, f"download from {url} failed: HTTP {exc.code} {exc.reason}"
                        ) from None
                    except (OSError, http.client.HTTPException, ValueError) as exc:
                        # URLError and timeouts are OSErrors; ValueError is a malformed URL.
                        reason = getattr(exc, "reason", None) or exc
                        raise DataError(dest, f"download from {url} failed: {reason}") from None
                expected = _expected_md5(checksums, name)
                # an IDX file (not an error page) of its declared length, then its checksum; a
                # corrupt gzip stream or a malformed file raises DataError
                _, actual = read_checked_idx(tmp, expected)
                if actual is not None:
                    raise DataError(
                        dest,
                        f"checksum mismatch after download from {url}: expected md5 "
                        f"{expected}, got {actual}; the download was deleted",
                    )
        except DataError as exc:  # (the temporary file is gone: `atomic`)
            if tmp is not None and Path(exc.path) == tmp:
                # read_checked_idx names the temporary file; name the destination instead.
                raise DataError(dest, f"download from {url}: {exc.reason}") from None
            raise
        if progress:
            print(f"  {dest.name}: verified and saved to {dest}", file=sys.stderr, flush=True)
        fetched.append(dest)
    return fetched
