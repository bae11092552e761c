"""Load MNIST-layout image data sets (MNIST, Fashion-MNIST, KMNIST) and take subsets.

A data set directory holds the four standard IDX files, gzip-compressed (``.gz``, preferred
when both exist) or raw::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

Checksums are MD5 digests of the *uncompressed* files, so a raw and a gzip copy verify alike.
MNIST's are built in (`KNOWN_CHECKSUMS`); for other data sets the caller supplies them.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioclf.data.download import fetch
from bioclf.data.idx import GZIP_MAGIC, read_checked_idx
from bioclf.errors import DataError

N_CLASSES = 10
#: (h, w) of an image: both networks take 784 inputs.
IMAGE_SHAPE = (28, 28)
#: Pixels of an image: the inputs of both networks.
N_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]

#: split -> (images file, labels file), base names without ``.gz``.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MNIST_CHECKSUMS: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: data set name -> built-in checksums, used when `load_split` is given none.
KNOWN_CHECKSUMS: dict[str, dict[str, str]] = {"mnist": MNIST_CHECKSUMS}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels of one split of a data set.

    Attributes
    ----------
    images : numpy.ndarray
        uint8 grey levels, shape (n, h, w).
    labels : numpy.ndarray
        uint8 class labels in 0..9, shape (n,).
    name : str
        Data set name, e.g. ``"mnist"``.
    split : str
        ``"train"`` or ``"test"`` (or a caller's own label).
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    split: str

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError(
                f"images must be a uint8 array (n, h, w), got {self.images.dtype} "
                f"{self.images.shape}"
            )
        if self.labels.dtype != np.uint8 or self.labels.ndim != 1:
            raise ValueError(
                f"labels must be a uint8 array (n,), got {self.labels.dtype} {self.labels.shape}"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(h, w) of one image."""
        return self.images.shape[1], self.images.shape[2]

    def class_counts(self) -> np.ndarray:
        """Number of samples of each class 0..9, shape (10,)."""
        return np.bincount(self.labels, minlength=N_CLASSES)


def _locate(root: Path, base: str) -> Path | None:
    for candidate in (root / f"{base}.gz", root / base):
        if candidate.is_file():
            return candidate
    return None


def split_size(root: str | os.PathLike, split: str) -> int | None:
    """The number of samples of a split, from its two files' headers alone (cheap).

    None when a file is missing, its header cannot be read, or the images and labels headers
    disagree in number: loading the split then reports the problem, naming the file.
    """
    images, labels = SPLIT_FILES[split]
    counts = {_header_count(Path(root), images, 3), _header_count(Path(root), labels, 1)}
    return counts.pop() if len(counts) == 1 else None


def _header_count(root: Path, name: str, dims: int) -> int | None:
    """The item count in the header of the IDX file `name` of uint8 values in `dims`
    dimensions, or None (missing, unreadable or of another kind)."""
    path = _locate(root, name)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == GZIP_MAGIC else open
        with opener(path, "rb") as f:
            header = f.read(8)
    except (OSError, EOFError, zlib.error):
        return None
    if len(header) < 8 or header[:4] != bytes([0, 0, 8, dims]):
        return None
    return int.from_bytes(header[4:], "big")


#: Where given checksums come from, for a mismatch's message.
GIVEN_CHECKSUMS = "data.checksums in the configuration; --data-checksums of the surrogate tasks"


def _builtin_checksums(name: str) -> str:
    """Where `name`'s built-in checksums come from: a mismatch there is most often another
    data set left under the name (data.name: mnist with Fashion-MNIST's files)."""
    return (
        f"{name}'s built-in checksum, as data.name (--data-name) is {name!r}: another data set "
        "needs a name of its own, and its checksums in data.checksums"
    )


def _read(path: Path, expected_md5: str | None, source: str = GIVEN_CHECKSUMS) -> np.ndarray:
    """The array of the IDX file `path`, its content checked against `expected_md5`, which
    `source` says where it came from (the mismatch's message names it)."""
    array, actual = read_checked_idx(path, expected_md5)
    if actual is not None:
        raise DataError(
            path,
            f"checksum mismatch: expected md5 {expected_md5} ({source}), found {actual} "
            "(md5 of the uncompressed content)",
        )
    return array


def load_split(
    root: str | os.PathLike,
    split: str,
    name: str = "mnist",
    verify: bool = True,
    checksums: Mapping[str, str] | None = None,
    url: str | None = None,
) -> Dataset:
    """Load the train or test split of an MNIST-layout data set.

    Parameters
    ----------
    root : str or PathLike
        Directory holding the IDX files.
    split : {"train", "test"}
        Which split.
    name : str, optional
        Data set name, stored in the result and used to find built-in checksums.
    verify : bool, optional
        Check MD5 checksums. With `checksums` None, the built-in ones for `name` are used if
        there are any (MNIST); otherwise nothing is checked.
    checksums : mapping of str to str, optional
        MD5 of the uncompressed content, keyed by file name (with or without ``.gz``). Files
        not in the mapping are not checked.
    url : str, optional
        URL of a directory serving the ``.gz`` files; missing files are downloaded from it
        (and verified before being saved).

    Returns
    -------
    Dataset
        The images (n, h, w) and labels (n,), both uint8.

    Raises
    ------
    DataError
        If a file is missing (and no `url` is given), unreadable, corrupt, fails its checksum,
        or images and labels disagree in number, an image is not 28x28 or a label is outside
        0..9.
    ValueError
        If `split` is not ``"train"`` or ``"test"``.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    source = GIVEN_CHECKSUMS
    if not verify:
        checksums = None
    elif checksums is None:
        checksums = KNOWN_CHECKSUMS.get(name.lower())
        source = _builtin_checksums(name)
    else:  # keyed by base name; a .gz name means the same file (as `fetch` takes it)
        checksums = {key.removesuffix(".gz"): md5 for key, md5 in checksums.items()}
    bases = SPLIT_FILES[split]
    if root.exists() and not root.is_dir():  # (else: its four files listed as missing)
        raise DataError(
            root,
            "is not a folder: data.root in the configuration (--data of the surrogate tasks) "
            "names the folder that holds the four IDX files",
        )

    missing = [base for base in bases if _locate(root, base) is None]
    if missing:
        if url is None:
            listed = ", ".join(str(root / f"{base}[.gz]") for base in missing)
            raise DataError(
                root,
                f"missing {name} {split} file(s): {listed}; put them there, or set a URL to "
                "download them from (data.url in the configuration; --data-url of the surrogate "
                "tasks)",
            )
        fetch(url, root, [f"{base}.gz" for base in missing], checksums)

    images_path, labels_path = (_locate(root, base) for base in bases)
    assert images_path is not None and labels_path is not None  # present or fetched above
    expected = checksums or {}
    images = _read(images_path, expected.get(bases[0]), source)
    labels = _read(labels_path, expected.get(bases[1]), source)

    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            images_path,
            f"expected uint8 images of shape (n, h, w), found {images.dtype} {images.shape}",
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            labels_path, f"expected uint8 labels of shape (n,), found {labels.dtype} {labels.shape}"
        )
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            images_path,
            f"expected images of {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} pixels (MNIST's layout, which "
            f"the networks take), found {images.shape[1]}x{images.shape[2]}",
        )
    if len(images) != len(labels):
        raise DataError(
            labels_path,
            f"{len(labels)} labels but {images_path.name} holds {len(images)} images",
        )
    if len(labels) and labels.max() >= N_CLASSES:
        bad = int(np.argmax(labels >= N_CLASSES))
        raise DataError(
            labels_path,
            f"labels must be in 0..{N_CLASSES - 1}; sample {bad}'s label (counting from 0) "
            f"is {labels[bad]}",
        )
    return Dataset(images=images, labels=labels, name=name, split=split)


def _stratified_quota(counts: np.ndarray, n: int, rng: np.random.Generator | None) -> np.ndarray:
    """Samples to take per class: as equal as possible, never more than a class holds."""
    # The largest level L with sum(min(counts, L)) <= n; every class gets min(count, L) ...
    lo, hi = 0, int(counts.max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(counts, mid).sum() <= n:
            lo = mid
        else:
            hi = mid - 1
    quota = np.minimum(counts, lo)
    # ... and the remainder (fewer than the classes with samples left) goes one each to
    # classes that have more: the lowest labels without a seed, random ones with.
    remainder = n - int(quota.sum())
    open_classes = np.flatnonzero(counts > lo)
    if rng is not None:
        open_classes = rng.permutation(open_classes)
    quota[open_classes[:remainder]] += 1
    return quota


def subset(
    dataset: Dataset,
    n: int,
    seed: int | None = None,
    stratified: bool = False,
    proportional: bool = False,
) -> Dataset:
    """Take `n` samples of `dataset`, deterministically.

    Parameters
    ----------
    dataset : Dataset
        The data set.
    n : int
        Number of samples, 1 to ``len(dataset)``.
    seed : int, optional
        None: the first samples in file order. An integer: a reproducible random choice, in
        random order (``numpy.random.default_rng(seed)``).
    stratified : bool, optional
        Take as nearly as possible the same number of samples of each class (classes with too
        few samples give all they have, and the others make up the difference). Without a
        seed, the first samples of each class, kept in file order.
    proportional : bool, optional
        With `stratified`: take each class in proportion to its share of the data set
        instead (largest remainders), so that the subset keeps the class frequencies.

    Returns
    -------
    Dataset
        The subset, with the same name and split.

    Raises
    ------
    ValueError
        If `n` is not between 1 and ``len(dataset)``.
    """
    index = subset_index(dataset.labels, n, seed, stratified, proportional, what=dataset)
    if seed is not None and stratified:
        # interleave the classes randomly (the choice itself is subset_index's)
        index = np.random.default_rng([seed, 1]).permutation(index)
    return Dataset(
        images=dataset.images[index],
        labels=dataset.labels[index],
        name=dataset.name,
        split=dataset.split,
    )


def subset_index(
    labels: np.ndarray,
    n: int,
    seed: int | None = None,
    stratified: bool = False,
    proportional: bool = False,
    what: Dataset | None = None,
) -> np.ndarray:
    """Positions of the `n` samples that `subset` takes, given the samples' `labels`.

    The same parameters as `subset`; stratified choices come in file order, unstratified
    seeded ones in random order. `what` names the data set in the error message.
    """
    total = len(labels)
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise ValueError(f"subset size must be an integer, got {n!r}")
    if not 1 <= n <= total:
        name = f"{what.name} {what.split}" if what is not None else "a data set"
        raise ValueError(f"cannot take {n} samples from {name}, which has {total}")
    rng = None if seed is None else np.random.default_rng(seed)
    if not stratified:
        return np.arange(n) if rng is None else rng.permutation(total)[:n]
    counts = np.bincount(labels, minlength=N_CLASSES)
    quota = _proportional_quota(counts, n) if proportional else _stratified_quota(counts, n, rng)
    parts = []
    for label in range(N_CLASSES):
        members = np.flatnonzero(labels == label)
        if rng is not None:
            members = rng.permutation(members)
        parts.append(members[: quota[label]])
    return np.sort(np.concatenate(parts))


def _proportional_quota(counts: np.ndarray, n: int) -> np.ndarray:
    """Samples to take per class, in proportion to `counts`, summing to exactly `n`: the
    integer parts, then one more each for the largest remainders (ties: the lower label)."""
    share = n * counts / counts.sum()
    quota = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    return quota


def images_as_float(dataset: Dataset) -> np.ndarray:
    """Return the images as float32 in [0, 1], one flattened image per row.

    Parameters
    ----------
    dataset : Dataset
        The data set (uint8 images).

    Returns
    -------
    numpy.ndarray
        float32, shape (n, h * w).
    """
    return pixels_as_float(dataset.images.reshape(len(dataset), -1))


def pixels_as_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 grey levels as float32 in [0, 1], a new array of the same shape: the arithmetic
    of `images_as_float` and `FloatImages`, element by element, so any block of rows gives the
    values the whole array has there."""
    flat = pixels.astype(np.float32)
    flat /= 255.0  # division, not multiplication by 1/255, so that 255 maps to exactly 1.0
    return flat


class FloatImages:
    """Flattened images as `images_as_float` gives them, converted only where they are read.

    It holds the uint8 pixels, a quarter of the memory of the floats (47 MB, not 188 MB, for
    MNIST's 60,000 training images). A slice of rows is another `FloatImages` over the same
    pixels (not a copy); ``numpy.asarray`` gives the float32 rows, with the values of
    `images_as_float`; `bioclf.io.digest` hashes it as that float32 array, a block of rows at
    a time (`blocks`).

    Parameters
    ----------
    pixels : numpy.ndarray
        uint8 grey levels, one flattened image per row, shape (n, h * w).
    """

    #: The dtype of the rows it gives.
    dtype = np.dtype(np.float32)
    #: Rows per block of `blocks` (12.8 MB of floats for 784 pixels).
    BLOCK = 4096

    def __init__(self, pixels: np.ndarray):
        if pixels.dtype != np.uint8 or pixels.ndim != 2:
            raise ValueError(
                f"pixels must be a uint8 array (n, h * w), got {pixels.dtype} {pixels.shape}"
            )
        self.pixels = pixels

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, rows: slice) -> FloatImages:
        if not isinstance(rows, slice):
            raise TypeError(
                f"FloatImages are sliced by rows (a[i:j]), not indexed by {rows!r}: "
                "numpy.asarray(a) first"
            )
        return FloatImages(self.pixels[rows])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy is False:
            raise ValueError("FloatImages makes its floats: they cannot be had without a copy")
        floats = pixels_as_float(self.pixels)
        return floats if dtype is None else floats.astype(dtype, copy=False)

    def blocks(self) -> Iterator[np.ndarray]:
        """The float32 rows, `BLOCK` at a time, in order."""
        for start in range(0, len(self), self.BLOCK):
            yield pixels_as_float(self.pixels[start : start + self.BLOCK])


def load_configured(data_cfg: dict, split: str) -> Dataset:
    """`load_split` with the ``data`` section of the configuration."""
    return load_split(
        data_cfg["root"],
        split,
        name=data_cfg.get("name", "mnist"),
        checksums=data_cfg.get("checksums"),
        url=data_cfg.get("url"),
    )


def check_configured(data_cfg: dict) -> None:
    """Verify the data set of the configuration's ``data`` section as the tasks read it.

    The workflow runs this before any job (and in a dry run), so that a missing, truncated or
    corrupt file or a checksum mismatch stops it in one line, as bad input does in a task. A
    split with files missing where ``data.url`` is set is left to the data rule, which
    downloads and verifies them: nothing is downloaded here.

    Raises
    ------
    DataError
        As `load_split`.
    """
    root = Path(data_cfg["root"])
    for split, bases in SPLIT_FILES.items():
        if data_cfg.get("url") and any(_locate(root, base) is None for base in bases):
            continue
        load_configured(data_cfg, split)
