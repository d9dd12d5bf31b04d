import gzip
import io
import tarfile

import numpy as np
import pytest
import scipy.sparse as sp

from fastem.datasets import load_20newsgroups, load_sparse, make_corpus


def test_make_corpus_shapes_and_parameters():
    X, y, params = make_corpus(n_samples=300, n_features=80, n_classes=4, doc_length=30, random_state=1)
    assert sp.issparse(X) and X.format == "csr" and X.shape == (300, 80)
    assert y.shape == (300,) and set(np.unique(y)) <= set(range(4))
    assert params.feature_prob.shape == (4, 80)
    np.testing.assert_allclose(params.feature_prob.sum(axis=1), 1.0)
    np.testing.assert_allclose(params.class_prior.sum(), 1.0)
    assert X.data.min() >= 1 and np.all(X.data == np.round(X.data))
    assert np.asarray(X.sum(axis=1)).min() >= 1  # every document has a word


def test_make_corpus_is_seeded():
    a = make_corpus(50, 20, 3, 10, random_state=7)
    b = make_corpus(50, 20, 3, 10, random_state=7)
    c = make_corpus(50, 20, 3, 10, random_state=8)
    assert (a[0] != b[0]).nnz == 0 and np.array_equal(a[1], b[1])
    assert (a[0] != c[0]).nnz > 0


def test_make_corpus_follows_its_parameters():
    # Large sample: empirical word frequencies per class approach feature_prob.
    X, y, params = make_corpus(4000, 30, 2, 200, random_state=0)
    for k in range(2):
        counts = np.asarray(X[y == k].sum(axis=0)).ravel()
        np.testing.assert_allclose(counts / counts.sum(), params.feature_prob[k], atol=0.004)
    np.testing.assert_allclose(np.bincount(y) / y.size, params.class_prior, atol=0.03)
    lengths = np.asarray(X.sum(axis=1)).ravel()
    assert abs(lengths.mean() - 200) < 2


@pytest.mark.parametrize("kwargs", [
    dict(n_samples=0), dict(n_features=-1), dict(n_classes=1.5), dict(doc_length=0),
    # not counts: bools and floats, even whole ones, and non-finite values
    dict(n_samples=True), dict(n_samples=2.0), dict(n_samples=np.float64(3)),
    dict(n_samples=float("nan")), dict(n_features=float("inf")), dict(n_classes="3"),
    dict(doc_length=float("nan")), dict(doc_length=float("inf")), dict(doc_length=True),
    dict(separation=float("nan")), dict(separation=float("inf")),
    dict(zipf_exponent=float("nan")), dict(zipf_exponent=float("-inf")),
])
def test_make_corpus_rejects_bad_sizes(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"^{name} must be"):
        make_corpus(**{**dict(n_samples=10, n_features=5, n_classes=2, doc_length=5), **kwargs})


def test_make_corpus_takes_numpy_numbers():
    X, y, _ = make_corpus(np.int32(10), np.int64(5), np.uint8(2), np.float32(5),
                          separation=np.float64(0.5), zipf_exponent=np.int64(1), random_state=0)
    assert X.shape == (10, 5) and y.shape == (10,)


def test_make_corpus_integer_zipf_exponent_does_not_overflow():
    # 2_100_000 ** 3 is beyond int64
    _, _, params = make_corpus(2, 2_100_000, 1, 5, zipf_exponent=3, random_state=0)
    _, _, as_float = make_corpus(2, 2_100_000, 1, 5, zipf_exponent=3.0, random_state=0)
    assert params.feature_prob.min() >= 0
    np.testing.assert_array_equal(params.feature_prob, as_float.feature_prob)


def test_load_sparse_keeps_float_targets_beyond_int64(tmp_path):
    (tmp_path / "big.svm").write_text("1e20 1:1\n2 2:1\n-1e19 1:3\n")
    _, y = load_sparse(tmp_path / "big.svm")
    assert y.dtype == np.float64 and y.tolist() == [1e20, 2.0, -1e19]
    (tmp_path / "fits.svm").write_text("9e18 1:1\n-9e18 2:1\n")
    _, y = load_sparse(tmp_path / "fits.svm")
    assert y.dtype == np.int64 and y.tolist() == [9 * 10**18, -9 * 10**18]


def test_load_20newsgroups_on_a_file_that_is_not_a_tar_archive(tmp_path):
    (tmp_path / "text.tar.gz").write_text("hello\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = np.random.default_rng(0).bytes(50_000)
        info = tarfile.TarInfo("20news-bydate-train/sci.space/1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(buffer.getvalue())
    (tmp_path / "truncated.tar.gz").write_bytes(packed[:len(packed) // 2])
    (tmp_path / "corrupt.tar.gz").write_bytes(packed[:20] + bytes(len(packed) - 20))
    for name in ("text.tar.gz", "truncated.tar.gz", "corrupt.tar.gz"):
        with pytest.raises(ValueError, match="is it the 20 Newsgroups bydate archive") as info:
            load_20newsgroups(archive=tmp_path / name, cache_dir=tmp_path / "cache")
        assert name in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("components, lengths, match", [
    ([0, 1, 5], [4, 4, 4], r"components must be in \[0, 2\)"),
    ([0, -1], [4, 4], r"components must be in \[0, 2\)"),
    ([0, 1], [4, -1], "lengths must be non-negative"),
    ([0, 1], [4], "same length"),
])
def test_sample_word_counts_refuses_rows_it_would_leave_empty(components, lengths, match):
    from fastem.datasets import sample_word_counts

    feature_prob = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=match):
        sample_word_counts(feature_prob, np.array(components), np.array(lengths), 0)
    X = sample_word_counts(feature_prob, np.array([0, 1]), np.array([4, 2]), 0)
    np.testing.assert_array_equal(np.asarray(X.sum(axis=1)).ravel(), [4, 2])
