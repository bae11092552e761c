"""Tests of bioclf.data: IDX reading, data set loading and checksums, subsets, downloads.

All local: the committed MNIST in data/mnist, tiny IDX files written to tmp_path, and HTTP
servers on 127.0.0.1 for the download tests.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import numpy as np
import pytest

from bioclf.data import (
    MNIST_CHECKSUMS,
    SPLIT_FILES,
    Dataset,
    FloatImages,
    check_configured,
    encode_idx,
    fetch,
    images_as_float,
    load_split,
    read_idx,
    subset,
    subset_index,
    write_idx,
)
from bioclf.errors import DataError
from bioclf.io import digest

MNIST = Path(__file__).resolve().parent.parent / "data" / "mnist"
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_test() -> Dataset:
    return load_split(MNIST, "test")


def make_tiny(root: Path, n: int = 20, seed: int = 0, compress: bool = True) -> dict[str, str]:
    """Write a Fashion-MNIST-like data set of `n` random samples per split to `root`.

    Returns the md5 (of the uncompressed content) of each file, keyed by base name.
    """
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    checksums = {}
    for images_base, labels_base in SPLIT_FILES.values():
        arrays = {
            images_base: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
            labels_base: rng.integers(0, 10, size=n, dtype=np.uint8),
        }
        for base, array in arrays.items():
            write_idx(root / (base + ".gz" if compress else base), array)
            checksums[base] = hashlib.md5(encode_idx(array)).hexdigest()
    return checksums


def raw_copy(tmp_path: Path, base: str) -> Path:
    """Decompress the committed MNIST file `base` into `tmp_path`."""
    dest = tmp_path / base
    dest.write_bytes(gzip.decompress((MNIST / f"{base}.gz").read_bytes()))
    return dest


def assert_data_error(path: Path, *fragments: str) -> pytest.ExceptionInfo:
    """Return the DataError raised by read_idx(path), checking its message."""
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    return info


# --- the committed MNIST -------------------------------------------------------------------


def test_mnist_test_split(mnist_test: Dataset) -> None:
    assert mnist_test.images.shape == (10000, 28, 28)
    assert mnist_test.images.dtype == np.uint8
    assert mnist_test.labels.shape == (10000,)
    assert mnist_test.labels.dtype == np.uint8
    assert mnist_test.class_counts().tolist() == TEST_COUNTS
    assert mnist_test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert (mnist_test.name, mnist_test.split, len(mnist_test)) == ("mnist", "test", 10000)


def test_mnist_train_split() -> None:
    train = load_split(str(MNIST), "train")  # str root, built-in checksums verified
    assert train.images.shape == (60000, 28, 28)
    assert train.labels.shape == (60000,)
    assert train.class_counts().sum() == 60000
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_raw_and_gzip_give_same_arrays(tmp_path: Path, mnist_test: Dataset) -> None:
    for base in SPLIT_FILES["test"]:
        raw_copy(tmp_path, base)
    raw = load_split(tmp_path, "test")  # raw files, still checked against the MNIST md5s
    np.testing.assert_array_equal(raw.images, mnist_test.images)
    np.testing.assert_array_equal(raw.labels, mnist_test.labels)


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    labels = tmp_path / "labels.idx"  # gzip content, no .gz suffix
    shutil.copy(MNIST / "t10k-labels-idx1-ubyte.gz", labels)
    np.testing.assert_array_equal(
        read_idx(labels), read_idx(raw_copy(tmp_path, "t10k-labels-idx1-ubyte"))
    )


def test_gz_preferred_over_raw(tmp_path: Path, mnist_test: Dataset) -> None:
    for base in SPLIT_FILES["test"]:
        shutil.copy(MNIST / f"{base}.gz", tmp_path)
        (tmp_path / base).write_bytes(b"not an idx file")
    np.testing.assert_array_equal(load_split(tmp_path, "test").labels, mnist_test.labels)


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", "<i4", "f4", "f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path: Path, dtype: str, suffix: str) -> None:
    array = (np.arange(24) - 7).astype(dtype).reshape(2, 3, 4)
    back = read_idx(write_idx(tmp_path / f"a{suffix}", array))
    assert back.dtype == array.dtype.newbyteorder("=") and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


# --- damaged files ------------------------------------------------------------------------


def test_truncated_raw_file(tmp_path: Path) -> None:
    path = raw_copy(tmp_path, "t10k-labels-idx1-ubyte")
    path.write_bytes(path.read_bytes()[:5000])
    assert_data_error(path, "truncated", "10008", "5000")


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    assert_data_error(path, "truncated", "16", "6")


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = (MNIST / path.name).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_data_error(path, "truncated")


def test_corrupt_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray((MNIST / path.name).read_bytes())
    data[100:140] = bytes(40)  # clobber the deflate data; the header still says gzip
    path.write_bytes(bytes(data))
    assert_data_error(path, "corrupt gzip stream")


def test_trailing_bytes(tmp_path: Path) -> None:
    path = raw_copy(tmp_path, "t10k-labels-idx1-ubyte")
    content = path.read_bytes()
    path.write_bytes(content + b"\x00\x01\x02")
    assert_data_error(path, "3 unexpected bytes")
    path.write_bytes(content + b"\x00")  # a single one too
    assert_data_error(path, "1 unexpected bytes")


def test_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(20))  # a zip file, say
    assert_data_error(path, "bad magic number")


def test_unknown_dtype_code(tmp_path: Path) -> None:
    path = tmp_path / "odd"
    path.write_bytes(b"\x00\x00\x0a\x01\x00\x00\x00\x01\x00")
    assert_data_error(path, "unknown IDX element-type code 0x0A")


def test_missing_file(tmp_path: Path) -> None:
    assert_data_error(tmp_path / "nowhere.gz", "not found")


def test_checksum_mismatch(tmp_path: Path) -> None:
    shutil.copy(MNIST / "t10k-images-idx3-ubyte.gz", tmp_path)
    labels = raw_copy(tmp_path, "t10k-labels-idx1-ubyte")
    data = bytearray(labels.read_bytes())
    data[8] = 3  # first label 7 -> 3: still a well-formed file, but not MNIST's
    labels.write_bytes(bytes(data))
    actual = hashlib.md5(data).hexdigest()
    with pytest.raises(DataError) as info:
        load_split(tmp_path, "test")
    message = str(info.value)
    assert str(labels) in message
    assert MNIST_CHECKSUMS["t10k-labels-idx1-ubyte"] in message and actual in message
    # verify=False loads it regardless
    assert load_split(tmp_path, "test", verify=False).labels[0] == 3


def test_checksum_mismatch_names_where_the_checksum_came_from(tmp_path: Path) -> None:
    """Another data set left under data.name: mnist failed on MNIST's built-in checksum with
    'expected md5 <MNIST's>', naming neither data.name nor data.checksums; the message says
    whose checksum it is and which field to set (a given checksum: data.checksums)."""
    checksums = make_tiny(tmp_path, n=20)
    with pytest.raises(DataError) as info:
        load_split(tmp_path, "test", name="MNIST")
    message = str(info.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte") in message
    assert MNIST_CHECKSUMS["t10k-images-idx3-ubyte"] in message
    assert "MNIST's built-in checksum, as data.name (--data-name) is 'MNIST'" in message
    assert "data.checksums" in message
    wrong = dict(checksums, **{"t10k-images-idx3-ubyte": "f" * 32})
    with pytest.raises(DataError, match=r"expected md5 f{32} \(data.checksums in the config"):
        load_split(tmp_path, "test", name="tiny", checksums=wrong)


def test_read_checked_idx_parses_before_it_compares_checksums(tmp_path: Path) -> None:
    """What loading and downloading both check a file with (`read_checked_idx`): the array and
    the md5 found where it differs; a truncated file is refused as truncated, whatever md5 is
    expected."""
    from bioclf.data.idx import read_checked_idx

    path = raw_copy(tmp_path, "t10k-labels-idx1-ubyte")
    content = path.read_bytes()
    expected = MNIST_CHECKSUMS["t10k-labels-idx1-ubyte"]
    array, mismatch = read_checked_idx(path, expected)
    assert mismatch is None and len(array) == 10000 and array[0] == 7
    assert read_checked_idx(path, None)[1] is None
    assert read_checked_idx(path, "0" * 32)[1] == expected.lower()
    path.write_bytes(content[:5000])
    with pytest.raises(DataError, match="truncated"):
        read_checked_idx(path, expected)


def test_missing_files_without_url(tmp_path: Path) -> None:
    shutil.copy(MNIST / "t10k-labels-idx1-ubyte.gz", tmp_path)
    with pytest.raises(DataError) as info:
        load_split(tmp_path, "test")
    message = str(info.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte") in message
    assert "t10k-labels" not in message
    assert "url" in message.lower()


def test_a_root_that_is_a_file_is_refused_as_no_folder(tmp_path: Path) -> None:
    """data.root naming a file (one of the IDX files, say) listed the four files as missing
    under it ('.../t10k-images-idx3-ubyte.gz/train-images-idx3-ubyte[.gz]')."""
    root = tmp_path / "t10k-labels-idx1-ubyte.gz"
    shutil.copy(MNIST / root.name, root)
    for url in (None, "file:///nowhere"):
        with pytest.raises(DataError) as info:
            load_split(root, "train", url=url)
        assert str(info.value) == (
            f"data file {root}: is not a folder: data.root in the configuration (--data of the "
            "surrogate tasks) names the folder that holds the four IDX files"
        )


def test_count_mismatch_and_bad_labels(tmp_path: Path) -> None:
    make_tiny(tmp_path, n=20)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="19 labels but .* 20 images"):
        load_split(tmp_path, "test", name="tiny")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8))
    with pytest.raises(DataError, match=r"0\.\.9"):
        load_split(tmp_path, "test", name="tiny")
    # 'label 7 is 10' read as the label '7' being 10: the message names the sample
    labels = np.arange(20, dtype=np.uint8) % 10
    labels[7] = 12
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match=r"sample 7's label \(counting from 0\) is 12"):
        load_split(tmp_path, "test", name="tiny")


def test_images_of_another_size_are_refused(tmp_path: Path) -> None:
    """Both networks take 28x28 images: a data set of other images is refused naming the file,
    not left to fail in a network's matrix product."""
    make_tiny(tmp_path, n=20)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((20, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"idx3-ubyte.gz: expected images of 28x28 .*32x32"):
        load_split(tmp_path, "test", name="tiny")


def test_data_check_says_whether_checksums_were_verified(tmp_path, capsys) -> None:
    import yaml

    from bioclf.data import check

    make_tiny(tmp_path / "tiny", n=20)
    config = yaml.safe_load((MNIST.parent.parent / "config" / "config.yaml").read_text())
    config["data"].update(root=str(tmp_path / "tiny"), name="tiny")
    for key in ("n_train", "n_assign", "n_test"):
        config["stdp"][key] = 10
    config["surrogate"]["export"]["n_test"] = 10  # (counts above the data set's are refused)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert check.main(["--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "test: 20 images, no checksums to verify" in out and "verified" not in out


def test_invalid_split() -> None:
    with pytest.raises(ValueError, match="train"):
        load_split(MNIST, "validation")


# --- other data sets ----------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_like_dataset(tmp_path: Path, compress: bool) -> None:
    root = tmp_path / "fashion"
    checksums = make_tiny(root, n=20, compress=compress)
    train = load_split(root, "train", name="fashion-mnist", checksums=None)
    assert train.images.shape == (20, 28, 28) and train.labels.shape == (20,)
    assert (train.name, train.split) == ("fashion-mnist", "train")
    test = load_split(str(root), "test", name="fashion-mnist", checksums=checksums)
    assert len(test) == 20
    wrong = dict(checksums, **{"t10k-images-idx3-ubyte": "0" * 32})
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*checksum mismatch"):
        load_split(root, "test", name="fashion-mnist", checksums=wrong)


def test_checksums_keyed_by_gz_names_are_verified(tmp_path: Path) -> None:
    """A checksum keyed by the .gz name (as downloads name the files) is checked, not
    silently skipped as a file without one."""
    checksums = make_tiny(tmp_path, n=20)
    gz_keyed = {f"{base}.gz": md5 for base, md5 in checksums.items()}
    assert len(load_split(tmp_path, "test", name="tiny", checksums=gz_keyed)) == 20
    gz_keyed["t10k-labels-idx1-ubyte.gz"] = "0" * 32
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        load_split(tmp_path, "test", name="tiny", checksums=gz_keyed)


# --- subsets ------------------------------------------------------------------------------


def test_subset_without_seed_is_file_order(mnist_test: Dataset) -> None:
    small = subset(mnist_test, 50)
    np.testing.assert_array_equal(small.labels, mnist_test.labels[:50])
    np.testing.assert_array_equal(small.images, mnist_test.images[:50])
    assert (small.name, small.split) == ("mnist", "test")


def test_subset_seeded_is_reproducible(mnist_test: Dataset) -> None:
    a, b = subset(mnist_test, 200, seed=3), subset(mnist_test, 200, seed=3)
    c = subset(mnist_test, 200, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.labels, mnist_test.labels[:200])


@pytest.mark.parametrize("seed", [None, 0])
def test_subset_stratified_is_balanced(mnist_test: Dataset, seed: int | None) -> None:
    assert subset(mnist_test, 100, seed=seed, stratified=True).class_counts().tolist() == [10] * 10
    counts = subset(mnist_test, 1003, seed=seed, stratified=True).class_counts()
    assert counts.sum() == 1003 and counts.max() - counts.min() == 1
    a = subset(mnist_test, 300, seed=seed, stratified=True)
    b = subset(mnist_test, 300, seed=seed, stratified=True)
    np.testing.assert_array_equal(a.images, b.images)


def test_subset_stratified_seeds_differ(mnist_test: Dataset) -> None:
    a = subset(mnist_test, 300, seed=1, stratified=True)
    b = subset(mnist_test, 300, seed=2, stratified=True)
    assert not np.array_equal(a.images, b.images)


def test_subset_stratified_with_a_small_class() -> None:
    labels = np.array([0] * 2 + [1] * 10 + [2] * 10, dtype=np.uint8)
    images = np.arange(22 * 4, dtype=np.uint8).reshape(22, 2, 2)
    data = Dataset(images=images, labels=labels, name="toy", split="train")
    counts = subset(data, 12, stratified=True).class_counts()
    assert counts[:3].tolist() == [2, 5, 5]  # class 0 gives all it has
    unseeded = subset(data, 12, stratified=True)
    assert np.all(np.diff(unseeded.images[:, 0, 0].astype(int)) > 0)  # file order kept


@pytest.mark.parametrize("n", [200, 999, 1001])
def test_subset_proportional_keeps_class_frequencies_exactly_n(mnist_test, n) -> None:
    """What the surrogate trains and tests on (`--train-subset`, `--test-subset`): exactly n
    images (rounding each class's share alone gave 201 of 200 and 1,001 of 1,000 here)."""
    full = mnist_test.class_counts()
    a = subset(mnist_test, n, seed=0, stratified=True, proportional=True)
    share = n * full / full.sum()
    assert len(a) == n and np.all(np.abs(a.class_counts() - share) < 1)
    index = subset_index(mnist_test.labels, n, 0, stratified=True, proportional=True)
    assert np.all(np.diff(index) > 0)  # file order
    # subset takes those images (in random order)
    assert sorted(map(bytes, a.images)) == sorted(map(bytes, mnist_test.images[index]))
    other = subset_index(mnist_test.labels, n, 1, stratified=True, proportional=True)
    assert not np.array_equal(index, other)
    np.testing.assert_array_equal(
        index, subset_index(mnist_test.labels, n, 0, stratified=True, proportional=True)
    )


def test_subset_too_large(mnist_test: Dataset) -> None:
    with pytest.raises(ValueError, match="10001.*10000"):
        subset(mnist_test, 10001)
    with pytest.raises(ValueError):
        subset(mnist_test, 0)


def test_images_as_float(mnist_test: Dataset) -> None:
    x = images_as_float(subset(mnist_test, 10))
    assert x.dtype == np.float32 and x.shape == (10, 784)
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[0] * 255, mnist_test.images[0].ravel())


def test_float_images_are_images_as_float_converted_where_read(mnist_test, monkeypatch) -> None:
    """`FloatImages` holds the pixels and gives, slice by slice, the very floats (bit for bit) of
    `images_as_float`, and the digest of that array (which identifies STDP runs), block by block
    (3 rows here, so that the 10 images take four blocks, the last one short)."""
    small = subset(mnist_test, 10)
    x = images_as_float(small)
    lazy = FloatImages(small.images.reshape(10, -1))
    assert lazy.pixels.dtype == np.uint8 and (len(lazy), lazy.shape) == (10, (10, 784))
    for rows in (slice(None), slice(2, 7), slice(-3, None), slice(4, 4)):
        got = np.asarray(lazy[rows])
        assert got.dtype == np.float32
        assert got.tobytes() == x[rows].tobytes(), rows
    monkeypatch.setattr(FloatImages, "BLOCK", 3)
    assert len(list(lazy.blocks())) == 4
    assert digest("run", lazy, 1) == digest("run", x, 1)
    assert digest(lazy[1:8]) == digest(x[1:8]) != digest(x[1:7])
    with pytest.raises(TypeError, match="sliced by rows"):
        lazy[3]
    with pytest.raises(ValueError, match="uint8"):
        FloatImages(x)


# --- downloads ----------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Factory: serve a directory over HTTP on 127.0.0.1 and return its URL."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval so that shutdown() at teardown returns promptly.
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_download_fetches_and_verifies(
    tmp_path: Path, serve, capsys: pytest.CaptureFixture
) -> None:
    checksums = make_tiny(tmp_path / "remote", n=20, seed=5)
    url = serve(tmp_path / "remote")
    local = tmp_path / "local" / "tiny"  # created by the download
    # Downloads killed earlier (on this host, by a process now gone; one of older code, a day
    # ago) leave their temporary files, which the next download of the file removes; one a live
    # process is writing is kept.
    name = "t10k-images-idx3-ubyte.gz"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=PIPE)
    host = socket.gethostname()
    killed = [f".{name}.{host}.{int(gone.stdout)}.tmp", f".{name}.a1b2_c3d.part"]
    live = f".{name}.{host}.{os.getppid()}.tmp"
    local.mkdir(parents=True)
    for left in [*killed, live]:
        (local / left).write_bytes(b"half")
    os.utime(local / killed[1], (1e9, 1e9))
    data = load_split(local, "test", name="tiny", checksums=checksums, url=url)
    assert len(data) == 20
    assert sorted(p.name for p in local.iterdir()) == sorted(
        [live, *(f"{base}.gz" for base in SPLIT_FILES["test"])]
    )
    expected = read_idx(tmp_path / "remote" / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(data.images, expected)
    assert "100%" in capsys.readouterr().err
    # Present files are not fetched again.
    assert fetch(url, local, ["t10k-images-idx3-ubyte.gz"], checksums, progress=False) == []


def test_download_checksum_mismatch_leaves_nothing(tmp_path: Path, serve) -> None:
    checksums = make_tiny(tmp_path / "good", n=20, seed=1)
    make_tiny(tmp_path / "bad", n=20, seed=2)  # same names, other content
    url = serve(tmp_path / "bad")
    local = tmp_path / "local"
    with pytest.raises(DataError) as info:
        load_split(local, "test", name="tiny", checksums=checksums, url=url)
    message = str(info.value)
    assert str(local / "t10k-images-idx3-ubyte.gz") in message
    assert "checksum mismatch" in message and checksums["t10k-images-idx3-ubyte"] in message
    assert list(local.iterdir()) == []  # neither the file nor its temporary copy


def test_download_http_error(tmp_path: Path, serve) -> None:
    url = serve(tmp_path)  # serves an empty directory
    with pytest.raises(DataError, match="HTTP 404"):
        fetch(url, tmp_path / "local", ["t10k-labels-idx1-ubyte.gz"], None, progress=False)
    assert list((tmp_path / "local").iterdir()) == []


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"<html>Moved: sign in to download</html>", "bad magic number"),  # an error page
        (gzip.compress(encode_idx(np.zeros((3, 28, 28), np.uint8)))[:-30], "truncated"),
    ],
)
def test_download_that_is_not_idx_leaves_nothing(tmp_path: Path, serve, content, reason) -> None:
    """Without checksums (another data set) a download is still parsed before it is saved: a
    server's error page or a cut stream is refused naming the file, and nothing is left for a
    later run to take as data."""
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "t10k-images-idx3-ubyte.gz").write_bytes(content)
    url = serve(remote)
    local = tmp_path / "local"
    with pytest.raises(DataError, match=reason) as info:
        fetch(url, local, ["t10k-images-idx3-ubyte.gz"], None, progress=False)
    assert str(local / "t10k-images-idx3-ubyte.gz") in str(info.value)
    assert list(local.iterdir()) == []


def test_checking_the_configured_data_reads_what_is_there_and_downloads_nothing(
    tmp_path: Path,
) -> None:
    """What the workflow checks before any job: every file that is there; a split whose files
    data.url will download is left to the data rule (no download in a dry run)."""
    checksums = make_tiny(tmp_path, n=20)
    section = {"root": str(tmp_path), "name": "tiny", "url": None, "checksums": checksums}
    check_configured(section)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    url = "http://127.0.0.1:9/"  # (nothing listens: a download would fail)
    check_configured({**section, "url": url})
    with pytest.raises(DataError, match="missing tiny train file"):
        check_configured(section)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-4])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        check_configured({**section, "url": url})


def test_split_size_is_unknown_where_images_and_labels_disagree(tmp_path: Path) -> None:
    """The size that sample counts are checked against comes from both files' headers: where
    they disagree it is unknown, so that loading the split names the mismatch (a count check
    against the labels' header alone blamed the configuration's n_test for a damaged file)."""
    from bioclf.data.datasets import split_size

    make_tiny(tmp_path, n=20)
    assert split_size(tmp_path, "test") == 20
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8))
    assert split_size(tmp_path, "test") is None
    assert split_size(tmp_path, "train") == 20
    with pytest.raises(DataError, match="19 labels but t10k-images-idx3-ubyte.gz holds 20"):
        load_split(tmp_path, "test", name="tiny")
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    assert split_size(tmp_path, "train") is None
