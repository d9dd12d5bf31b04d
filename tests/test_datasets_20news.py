"""The 20 Newsgroups loader, :func:`fastem.datasets.load_20newsgroups`.

The loader's logic (layout, header stripping, latin-1, vocabulary fitted on the
training split, cache) is tested on a tiny archive built in ``tmp_path``, so
it runs everywhere. The real bydate archive is used when present (the
``FASTEM_DATA`` environment variable, else ``../shared/data/20news/`` beside
the repository); those tests are skipped without it.
"""
import io
import os
import tarfile

import numpy as np
import pytest
import scipy.sparse as sp

import fastem.datasets as datasets
from fastem.datasets import VECTORIZER_SETTINGS, load_20newsgroups

from helpers import REAL_ARCHIVE  # noqa: E402
from helpers import needs_20news as needs_archive  # noqa: E402


# ------------------------------------------------------------ tiny archive
def _message(body, header="From: someone@example.org\nSubject: hello\n"):
    return (header + "\n" + body).encode("latin-1")


# min_df=3 and max_df=0.5 are counted on the 9 training documents: a word
# needs 3 of them and at most 4. 'engine', 'orbit', 'faith' are in 3 each,
# 'shared' in 6 (dropped by max_df), 'twice' in 2 (dropped by min_df),
# 'xerox' only in 3 headers, 'testonly' only in test documents.
TRAIN = {
    ("rec.autos", "10"): _message("engine shared twice", "Organization: Xerox\n"),
    ("rec.autos", "9"): _message("engine shared twice", "Organization: Xerox\n"),
    ("rec.autos", "11"): _message("engine shared", "Organization: Xerox\n"),
    ("sci.space", "1"): _message("orbit orbit shared"),
    ("sci.space", "2"): b"Subject: crlf\r\n\r\norbit shared\r\n",
    ("sci.space", "3"): _message("orbit shared caf\xe9 na\xefve"),
    ("alt.atheism", "5"): _message("faith"),
    ("alt.atheism", "6"): _message("faith"),
    ("alt.atheism", "7"): _message("faith the and of"),  # stop words only beside 'faith'
}
TEST = {
    ("rec.autos", "20"): _message("engine engine testonly"),
    ("sci.space", "21"): _message("orbit testonly testonly"),
    ("alt.atheism", "22"): b"Subject: no blank line, so all header\nfaith faith\n",
    ("alt.atheism", "23"): _message("faith testonly"),
}


def _make_archive(path, extra=()):
    with tarfile.open(path, "w:gz") as tar:
        def add(name, content=None):
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        add("20news-bydate-train")
        for split, docs in (("train", TRAIN), ("test", TEST)):
            for (group, name), content in docs.items():
                add(f"20news-bydate-{split}/{group}/{name}", content)
        for name, content in extra:
            add(name, content)
    return path


@pytest.fixture
def tiny(tmp_path):
    archive = _make_archive(tmp_path / "20news-bydate.tar.gz",
                            extra=[("README", b"not a message")])
    return archive, tmp_path / "cache"


def _row(bunch, filename):
    return list(bunch.filenames).index(filename)


def test_tiny_archive_layout_and_targets(tiny):
    archive, cache = tiny
    train = load_20newsgroups("train", archive=archive, cache_dir=cache)
    test = load_20newsgroups("test", archive=archive, cache_dir=cache)
    assert train.target_names == test.target_names == ["alt.atheism", "rec.autos", "sci.space"]
    assert sp.isspmatrix_csr(train.data) and train.data.dtype == np.float64
    assert train.data.has_sorted_indices
    assert train.data.shape[0] == 9 and test.data.shape[0] == 4
    # rows by group, then by article number (numerically: 9 before 10)
    assert list(train.filenames[3:6]) == ["20news-bydate-train/rec.autos/9",
                                          "20news-bydate-train/rec.autos/10",
                                          "20news-bydate-train/rec.autos/11"]
    for bunch in (train, test):
        for name, code in zip(bunch.filenames, bunch.target):
            assert name.split("/")[1] == bunch.target_names[code]
    assert train.target.dtype == np.int64
    np.testing.assert_array_equal(train.target, [0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_tiny_archive_vocabulary_fitted_on_train_only(tiny):
    archive, cache = tiny
    train = load_20newsgroups("train", archive=archive, cache_dir=cache)
    test = load_20newsgroups("test", archive=archive, cache_dir=cache)
    # min_df=3 keeps words in 3 training documents, max_df=0.5 drops 'shared'
    # (6 of 9), stop words and 'twice' (2 documents) go; 'testonly' is in
    # three test documents but no training one
    assert list(train.feature_names) == ["engine", "faith", "orbit"]
    assert test.data.shape[1] == train.data.shape[1] == 3
    assert VECTORIZER_SETTINGS["min_df"] == 3 and VECTORIZER_SETTINGS["max_df"] == 0.5
    col = {w: j for j, w in enumerate(train.feature_names)}
    X = test.data.toarray()
    assert X[_row(test, "20news-bydate-test/rec.autos/20"), col["engine"]] == 2
    assert X[_row(test, "20news-bydate-test/sci.space/21")].sum() == 1  # testonly dropped
    Xtr = train.data.toarray()
    assert Xtr[_row(train, "20news-bydate-train/sci.space/1"), col["orbit"]] == 2


def test_tiny_archive_headers(tiny, tmp_path):
    archive, cache = tiny
    train = load_20newsgroups("train", archive=archive, cache_dir=cache)
    test = load_20newsgroups("test", archive=archive, cache_dir=cache)
    assert "xerox" not in set(train.feature_names)
    # CRLF message: the header ends at the first blank line too
    assert train.data[_row(train, "20news-bydate-train/sci.space/2")].sum() == 1
    # a message without a blank line is all header: an empty row, still a row
    assert test.data[_row(test, "20news-bydate-test/alt.atheism/22")].sum() == 0
    kept = load_20newsgroups("train", archive=archive, cache_dir=cache, remove_headers=False)
    assert "xerox" in set(kept.feature_names)
    row = _row(kept, "20news-bydate-train/rec.autos/9")
    assert kept.data[row, list(kept.feature_names).index("xerox")] == 1


def test_tiny_archive_all_is_train_then_test(tiny):
    archive, cache = tiny
    train = load_20newsgroups("train", archive=archive, cache_dir=cache)
    test = load_20newsgroups("test", archive=archive, cache_dir=cache)
    both = load_20newsgroups("all", archive=archive, cache_dir=cache)
    assert (both.data != sp.vstack([train.data, test.data])).nnz == 0
    np.testing.assert_array_equal(both.target, np.concatenate([train.target, test.target]))
    assert list(both.filenames) == list(train.filenames) + list(test.filenames)


def test_tiny_archive_cache_is_reused_and_invalidated(tiny, monkeypatch):
    archive, cache = tiny
    calls = []
    real = datasets._vectorize

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(datasets, "_vectorize", counting)
    first = load_20newsgroups("train", archive=archive, cache_dir=cache)
    assert len(calls) == 1
    files = sorted(p.suffix for p in cache.iterdir())
    assert files == [".json", ".npz"]
    second = load_20newsgroups("test", archive=archive, cache_dir=cache)
    third = load_20newsgroups("train", archive=archive, cache_dir=cache)
    assert len(calls) == 1  # both splits came from the cache
    assert (first.data != third.data).nnz == 0 and second.data.shape == (4, 3)
    assert list(first.feature_names) == list(third.feature_names)
    # other settings are another cache entry
    load_20newsgroups("train", archive=archive, cache_dir=cache, remove_headers=False)
    assert len(calls) == 2
    # a changed archive (size and mtime) is read again
    os.utime(archive, ns=(0, archive.stat().st_mtime_ns + 10**9))
    load_20newsgroups("train", archive=archive, cache_dir=cache)
    assert len(calls) == 3


def test_damaged_cache_entry_is_rebuilt(tiny):
    archive, cache = tiny
    load_20newsgroups("train", archive=archive, cache_dir=cache)
    npz = next(cache.glob("*.npz"))
    npz.write_bytes(b"garbage")
    again = load_20newsgroups("train", archive=archive, cache_dir=cache)
    assert again.data.shape == (9, 3)


def test_environment_variables(tiny, monkeypatch, tmp_path):
    archive, _ = tiny
    cache = tmp_path / "env-cache"
    monkeypatch.setenv("FASTEM_DATA", str(archive.parent))  # a directory holding it
    monkeypatch.setenv("FASTEM_CACHE", str(cache))
    train = load_20newsgroups()
    assert train.data.shape == (9, 3)
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".npz"]
    monkeypatch.setenv("FASTEM_DATA", str(archive))  # the file itself
    assert load_20newsgroups("test").data.shape == (4, 3)


def test_missing_archive_messages(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTEM_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="FASTEM_DATA"):
        load_20newsgroups(cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="archive="):
        load_20newsgroups(archive=tmp_path / "nope.tar.gz", cache_dir=tmp_path)
    monkeypatch.setenv("FASTEM_DATA", str(tmp_path / "empty-dir"))
    with pytest.raises(FileNotFoundError, match="FASTEM_DATA="):
        load_20newsgroups(cache_dir=tmp_path)


def test_bad_subset_and_foreign_archive(tiny, tmp_path):
    archive, cache = tiny
    with pytest.raises(ValueError, match="subset must be"):
        load_20newsgroups("validation", archive=archive, cache_dir=cache)
    foreign = tmp_path / "other.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        info = tarfile.TarInfo("somewhere/else/1")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(ValueError, match="bydate"):
        load_20newsgroups(archive=foreign, cache_dir=cache)


# ------------------------------------------------------------ real archive
@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("20news-cache")


@needs_archive
def test_real_archive_counts_and_cache(real_cache, monkeypatch):
    train = load_20newsgroups("train", archive=REAL_ARCHIVE, cache_dir=real_cache)
    assert train.data.shape[0] == 11314 and train.target.shape == (11314,)
    assert len(train.target_names) == 20
    assert train.target_names[0] == "alt.atheism" and train.target_names[-1] == "talk.religion.misc"
    counts = dict(zip(train.target_names, np.bincount(train.target)))
    assert counts["alt.atheism"] == 480 and counts["talk.religion.misc"] == 377

    # the second load reads the cache: no vectorising
    monkeypatch.setattr(datasets, "_vectorize", lambda *a: pytest.fail("cache not used"))
    test = load_20newsgroups("test", archive=REAL_ARCHIVE, cache_dir=real_cache)
    assert test.data.shape == (7532, train.data.shape[1])
    assert test.target_names == train.target_names
    counts = dict(zip(test.target_names, np.bincount(test.target)))
    assert counts["alt.atheism"] == 319 and counts["talk.religion.misc"] == 251
    assert load_20newsgroups("all", archive=REAL_ARCHIVE, cache_dir=real_cache).data.shape[0] == 18846


@needs_archive
def test_real_archive_vocabulary_from_training_split(real_cache):
    train = load_20newsgroups("train", archive=REAL_ARCHIVE, cache_dir=real_cache)
    test = load_20newsgroups("test", archive=REAL_ARCHIVE, cache_dir=real_cache)
    n_train = train.data.shape[0]
    df_train = np.diff(train.data.tocsc().indptr)
    # min_df=3 and max_df=0.5 hold on the training split, where they were applied
    assert df_train.min() == 3 and df_train.max() <= 0.5 * n_train
    # ... and not on the test split, which only reuses the vocabulary
    df_test = np.diff(test.data.tocsc().indptr)
    assert (df_test < 3).sum() > 1000
    assert train.feature_names.shape == (train.data.shape[1],)
    assert list(train.feature_names) == sorted(train.feature_names)
    assert {"god", "space", "hockey", "encryption"} <= set(train.feature_names)
    assert "the" not in set(train.feature_names)  # stop words removed
    assert np.all(train.data.data == np.round(train.data.data)) and train.data.data.min() >= 1
