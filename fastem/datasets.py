"""Data sets: a seeded synthetic bag-of-words corpus with known parameters, and
a loader for the 20 Newsgroups "bydate" archive."""
import gzip
import hashlib
import json
import lzma
import numbers
import os
from pathlib import Path
import re
import tarfile
import zipfile
import zlib

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch, check_random_state


def sample_word_counts(feature_prob, components, lengths, random_state=None):
    """Bag-of-words counts: row ``i`` has ``lengths[i]`` words drawn from
    ``feature_prob[components[i]]`` (rows of ``feature_prob`` are distributions
    over words, [n_components, n_features]).

    Returns a canonical float64 CSR matrix of shape (len(components), n_features).
    Raises ValueError for a component outside ``[0, n_components)`` or a
    negative length (such a row would silently come back empty).
    """
    rng = check_random_state(random_state)
    components, lengths = np.asarray(components), np.asarray(lengths)
    n_components, n_features = feature_prob.shape
    if components.shape != lengths.shape or components.ndim != 1:
        raise ValueError(f"components and lengths must be 1-D arrays of the same length, got "
                         f"shapes {components.shape} and {lengths.shape}.")
    if components.size and (components.min() < 0 or components.max() >= n_components):
        raise ValueError(f"components must be in [0, {n_components}), got values from "
                         f"{components.min()} to {components.max()}.")
    if lengths.size and lengths.min() < 0:
        raise ValueError(f"lengths must be non-negative, got {lengths.min()}.")
    rows, cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for k in range(n_components):
        docs = np.flatnonzero(components == k)
        n_tokens = int(lengths[docs].sum())
        if n_tokens == 0:
            continue
        cdf = np.cumsum(feature_prob[k])
        words = np.searchsorted(cdf, rng.random_sample(n_tokens) * cdf[-1], side="right")
        rows.append(np.repeat(docs, lengths[docs]))
        cols.append(np.minimum(words, n_features - 1))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)),
                      shape=(components.shape[0], n_features))
    X.sum_duplicates()
    return X


def make_corpus(n_samples=1000, n_features=1000, n_classes=5, doc_length=100, *,
                separation=1.0, zipf_exponent=1.1, random_state=None):
    """Sample a bag-of-words corpus from a known mixture of multinomials.

    Word frequencies follow a Zipf-like law shared by all classes; each class
    multiplies it by its own log-normal factors (standard deviation
    ``separation``), so classes differ in which words they favour, as topics
    do. Documents draw a class from the class prior, a length from a Poisson
    law with mean ``doc_length`` (at least 1), and that many words from the
    class's word distribution.

    Parameters
    ----------
    n_samples, n_features, n_classes : int
        Size of the corpus and number of classes (mixture components).
    doc_length : float, default=100
        Mean number of words per document.
    separation : float, default=1.0
        Spread of the per-class log-normal factors; larger is easier.
    zipf_exponent : float, default=1.1
        Exponent ``s`` of the shared base frequencies ``1 / rank**s``.
    random_state : int, RandomState instance or None
        Seed.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64 counts
    y : ndarray of shape (n_samples,), int64 class of each document
    params : Bunch
        ``class_prior`` [n_classes] and ``feature_prob`` [n_classes, n_features]
        (rows sum to 1): the parameters the corpus was sampled from.
    """
    for name, value in (("n_samples", n_samples), ("n_features", n_features),
                        ("n_classes", n_classes)):
        # numpy integers are Integral; bools and floats (even 2.0) are not counts
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    for name, value in (("doc_length", doc_length), ("separation", separation),
                        ("zipf_exponent", zipf_exponent)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if doc_length <= 0:
        raise ValueError(f"doc_length must be positive, got {doc_length!r}.")
    rng = check_random_state(random_state)
    # in float64: an integer exponent on an int64 arange overflows silently
    base = 1.0 / np.arange(1, n_features + 1, dtype=np.float64) ** zipf_exponent
    base = base[rng.permutation(n_features)]
    feature_prob = base * np.exp(separation * rng.standard_normal((n_classes, n_features)))
    feature_prob /= feature_prob.sum(axis=1, keepdims=True)
    class_prior = rng.dirichlet(np.full(n_classes, 5.0))

    y = rng.choice(n_classes, size=n_samples, p=class_prior).astype(np.int64)
    lengths = np.maximum(rng.poisson(doc_length, size=n_samples), 1)
    X = sample_word_counts(feature_prob, y, lengths, rng)
    return X, y, Bunch(class_prior=class_prior, feature_prob=feature_prob)


# ------------------------------------------------------------ 20 Newsgroups
ARCHIVE_NAME = "20news-bydate.tar.gz"
_SPLITS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}

#: How the messages become counts. ``min_df`` is counted on the training split
#: (the only split the vocabulary sees). Letters-only tokens of two or more
#: letters drop numbers, e-mail fragments and most uuencoded/PGP noise;
#: English stop words and words in fewer than 3 training documents are left
#: out (a word seen once or twice cannot characterise one of 20 groups, and
#: dropping them halves the vocabulary). A word in more than half of the
#: training documents is also left out (none is, once stop words are gone, so
#: this changes nothing on bydate; it guards against other copies).
VECTORIZER_SETTINGS = dict(lowercase=True, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",
                           stop_words="english", min_df=3, max_df=0.5)
# Bump when the parsing or the cache layout changes: old cache files are then ignored.
_LOADER_VERSION = 1
_BLANK_LINE = re.compile(r"\n\r?\n")


def _strip_header(text):
    """Everything after the first blank line (a line that is empty, or only a
    carriage return in CRLF files); a message without one is all header."""
    match = _BLANK_LINE.search(text)
    return text[match.end():] if match else ""


def find_20newsgroups_archive(archive=None, default=None):
    """Path of ``20news-bydate.tar.gz``: ``archive``, else ``$FASTEM_DATA``,
    else ``default``; each may name the archive or a directory holding it.

    An archive named by ``archive`` or ``$FASTEM_DATA`` must exist (no silent
    fallback); ``default`` is used only when neither is given. Raises
    ``FileNotFoundError`` with a message saying where to put it.
    """
    sources = [("archive", archive)] if archive is not None else []
    if os.environ.get("FASTEM_DATA"):
        sources.append(("FASTEM_DATA", os.environ["FASTEM_DATA"]))
    if not sources and default is not None:
        sources.append(("default", default))
    for source, value in sources:
        path = Path(value).expanduser()
        if path.is_dir():
            path = path / ARCHIVE_NAME
        if path.is_file():
            return path
        raise FileNotFoundError(
            f"20 Newsgroups archive not found: {source}={str(value)!r} does not name "
            f"{ARCHIVE_NAME} or a directory containing it.")
    raise FileNotFoundError(
        f"20 Newsgroups archive not found: pass archive='/path/to/{ARCHIVE_NAME}' or set the "
        f"FASTEM_DATA environment variable to the archive or its directory (the bydate archive "
        f"is at http://qwone.com/~jason/20Newsgroups/).")


def _read_archive(path, remove_headers):
    """Texts, newsgroup names and file names per split, sorted by (group, file)."""
    found = {split: [] for split in _SPLITS}
    folders = {folder: split for split, folder in _SPLITS.items()}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                parts = member.name.strip("/").split("/")
                if not member.isfile() or len(parts) < 3 or parts[-3] not in folders:
                    continue
                text = tar.extractfile(member).read().decode("latin-1")
                if remove_headers:
                    text = _strip_header(text)
                found[folders[parts[-3]]].append((parts[-2], parts[-1], text))
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as exc:
        # not a tar archive, or a damaged or truncated one (tarfile's "r:*"
        # message lists every method tried, one per line: keep the first)
        detail = (str(exc).splitlines() or [""])[0].rstrip(":")
        raise ValueError(f"{path} is not a readable tar archive ({type(exc).__name__}: {detail}); "
                         f"is it the 20 Newsgroups bydate archive?") from None
    for split, folder in _SPLITS.items():
        if not found[split]:
            raise ValueError(f"{path} holds no documents under {folder}/<newsgroup>/<file>; "
                             f"is it the 20 Newsgroups bydate archive?")
        # numeric article numbers in numeric order, anything else after them
        found[split].sort(key=lambda d: (d[0], not d[1].isdigit(),
                                         int(d[1]) if d[1].isdigit() else 0, d[1]))
    return found


def _cache_key(path, remove_headers):
    stat = path.stat()
    key = json.dumps([_LOADER_VERSION, stat.st_size, stat.st_mtime_ns, bool(remove_headers),
                      sorted(VECTORIZER_SETTINGS.items())], default=str)
    return "20news-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _cache_directory(cache_dir):
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("FASTEM_CACHE"):
        return Path(os.environ["FASTEM_CACHE"]).expanduser()
    return Path.home() / ".cache" / "fastem"


def _atomic_write(target, write):
    """Write through a temporary file in the same directory, then rename, so a
    reader never sees half a file (two processes may fill the cache at once)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _vectorize(path, remove_headers):
    from sklearn.feature_extraction.text import CountVectorizer

    found = _read_archive(path, remove_headers)
    target_names = sorted({group for split in found.values() for group, _, _ in split})
    codes = {name: code for code, name in enumerate(target_names)}
    vectorizer = CountVectorizer(dtype=np.float64, **VECTORIZER_SETTINGS)
    result = {}
    for split in _SPLITS:
        texts = [text for _, _, text in found[split]]
        X = vectorizer.fit_transform(texts) if split == "train" else vectorizer.transform(texts)
        X = sp.csr_matrix(X, dtype=np.float64)
        X.sort_indices()
        y = np.array([codes[group] for group, _, _ in found[split]], dtype=np.int64)
        files = [f"{_SPLITS[split]}/{group}/{name}" for group, name, _ in found[split]]
        result[split] = (X, y, files)
    return result, vectorizer.get_feature_names_out().tolist(), target_names


def _save_cache(directory, key, result, feature_names, target_names):
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, (X, y, _) in result.items():
        arrays.update({f"{split}_data": X.data, f"{split}_indices": X.indices,
                       f"{split}_indptr": X.indptr, f"{split}_shape": np.array(X.shape),
                       f"{split}_target": y})
    names = {"feature_names": feature_names, "target_names": target_names,
             "filenames": {split: files for split, (_, _, files) in result.items()}}
    # the names first: the .npz is what marks the cache entry as complete
    _atomic_write(directory / f"{key}.json",
                  lambda tmp: tmp.write_text(json.dumps(names), encoding="utf-8"))
    def write_arrays(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    _atomic_write(directory / f"{key}.npz", write_arrays)


def _load_cache(directory, key):
    arrays_path, names_path = directory / f"{key}.npz", directory / f"{key}.json"
    if not (arrays_path.is_file() and names_path.is_file()):
        return None
    try:
        names = json.loads(names_path.read_text(encoding="utf-8"))
        with np.load(arrays_path) as arrays:
            result = {}
            for split in _SPLITS:
                X = sp.csr_matrix((arrays[f"{split}_data"], arrays[f"{split}_indices"],
                                   arrays[f"{split}_indptr"]),
                                  shape=tuple(arrays[f"{split}_shape"]))
                result[split] = (X, arrays[f"{split}_target"], names["filenames"][split])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a damaged entry is rebuilt
    return result, names["feature_names"], names["target_names"]


def load_20newsgroups(subset="train", archive=None, remove_headers=True, cache_dir=None):
    """Load the 20 Newsgroups "bydate" corpus as a CSR matrix of word counts.

    The messages are read from the standard ``20news-bydate.tar.gz``
    (``20news-bydate-train/<newsgroup>/<file>`` and
    ``20news-bydate-test/...``), decoded as latin-1 and turned into counts by
    :class:`sklearn.feature_extraction.text.CountVectorizer` with
    :data:`VECTORIZER_SETTINGS`: lowercase, tokens of two or more ASCII
    letters (``r"(?u)\b[a-zA-Z][a-zA-Z]+\b"``), scikit-learn's English stop
    words removed, ``min_df=3`` and ``max_df=0.5``. The vocabulary is fitted on
    the training split only; the test split is counted with that vocabulary
    (its unseen words are dropped), as a held-out set must be.

    The counts are cached (``<cache_dir>/20news-<key>.npz`` plus a ``.json``
    of names), keyed by the archive's size and modification time, the
    settings and ``remove_headers``: the first call takes some seconds, later
    ones a fraction of a second. Nothing is downloaded; to fetch the data with
    network access use :func:`sklearn.datasets.fetch_20newsgroups` (its
    ``subset`` and ``remove=('headers',)`` correspond to the arguments here,
    though its header stripping and file order differ slightly).

    Parameters
    ----------
    subset : {'train', 'test', 'all'}, default='train'
        Which split; ``'all'`` is the training rows followed by the test rows.
    archive : str or path-like, default=None
        The archive, or a directory containing ``20news-bydate.tar.gz``. When
        None, the ``FASTEM_DATA`` environment variable is used the same way.
    remove_headers : bool, default=True
        Drop each message's header block: everything up to the first blank
        line (Subject, From, Organization and newsgroup lines would otherwise
        give the answer away). Quoted replies and signatures are kept.
    cache_dir : str or path-like, default=None
        Where to cache the counts; None means ``$FASTEM_CACHE`` if set, else
        ``~/.cache/fastem``.

    Returns
    -------
    data : Bunch
        ``data``: scipy.sparse.csr_matrix of shape (n_documents, n_words),
        float64 counts with sorted indices; ``target``: int64 newsgroup index
        of each row; ``target_names``: the 20 newsgroups, sorted
        (``target_names[target[i]]`` is row ``i``'s group);
        ``feature_names``: ndarray of str, the vocabulary;
        ``filenames``: the archive path of each row. Rows are sorted by
        newsgroup, then by article number.

    Raises
    ------
    FileNotFoundError
        When neither ``archive`` nor ``FASTEM_DATA`` names an existing archive.
    ValueError
        When the archive is not a readable tar archive (a damaged or truncated
        download, another file) or holds no ``20news-bydate-train/`` or
        ``20news-bydate-test/`` documents; or when ``subset`` is not one of
        'train', 'test', 'all'.

    Examples
    --------
    >>> from fastem.datasets import load_20newsgroups
    >>> train = load_20newsgroups("train")   # doctest: +SKIP
    >>> train.data.shape[0], len(train.target_names)   # doctest: +SKIP
    (11314, 20)
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    path = find_20newsgroups_archive(archive)
    directory = _cache_directory(cache_dir)
    key = _cache_key(path, remove_headers)
    loaded = _load_cache(directory, key)
    if loaded is None:
        loaded = _vectorize(path, remove_headers)
        try:
            _save_cache(directory, key, *loaded)
        except OSError:  # an unwritable cache must not stop the load
            pass
    result, feature_names, target_names = loaded
    splits = ["train", "test"] if subset == "all" else [subset]
    X = sp.vstack([result[s][0] for s in splits], format="csr") if len(splits) > 1 \
        else result[subset][0]
    target = np.concatenate([result[s][1] for s in splits])
    filenames = np.array([f for s in splits for f in result[s][2]], dtype=object)
    return Bunch(data=X, target=target, target_names=list(target_names),
                 feature_names=np.asarray(feature_names, dtype=object), filenames=filenames,
                 DESCR="20 Newsgroups, bydate split, headers "
                       f"{'removed' if remove_headers else 'kept'}; counts by CountVectorizer"
                       f"({VECTORIZER_SETTINGS}) fitted on the training split.")


# ------------------------------------------------------------ files for the command line
def _read_sparse(path, n_features=None, zero_based="auto"):
    """:func:`load_sparse`, also returning whether svmlight column indices were
    read as zero-based (None for ``.npz``), so that a second file can be read
    with the same convention."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r}: no such file")
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r}: not a file")
    if path.suffix.lower() == ".npz":
        import pickle

        try:
            X = sp.load_npz(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                pickle.UnpicklingError) as exc:  # each means "not this format"
            raise ValueError(f"{str(path)!r}: not a SciPy sparse .npz file "
                             f"(scipy.sparse.save_npz writes one): {exc}") from None
        X, y, used = sp.csr_matrix(X, dtype=np.float64), None, None
        if n_features is not None and X.shape[1] != n_features:
            raise ValueError(f"{str(path)!r} has {X.shape[1]} columns, expected {n_features}.")
    else:
        from sklearn.datasets import load_svmlight_file

        try:
            if zero_based == "auto":
                # sklearn's own rule (one-based unless a column index 0 occurs),
                # applied here so that the caller learns which one was used
                X, y = load_svmlight_file(str(path), zero_based=True, dtype=np.float64)
                used = X.nnz == 0 or X.indices.min() == 0
                if not used:
                    X = X[:, 1:]
            else:
                used = bool(zero_based)
                X, y = load_svmlight_file(str(path), zero_based=used, dtype=np.float64)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{str(path)!r}: not a svmlight/libsvm file "
                             f"('<label> <index>:<value> ...' per line; .npz files must end "
                             f"in .npz): {exc}") from None
        if n_features is not None and X.shape[1] != n_features:
            if X.shape[1] > n_features:
                raise ValueError(f"{str(path)!r} has {X.shape[1]} columns, more than the "
                                 f"{n_features} expected.")
            X = sp.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], n_features))
        # whole numbers become int64 only when every one fits (1e20 would wrap)
        if np.all(np.isfinite(y) & (y == np.round(y)) & (y >= -2.0**63) & (y < 2.0**63)):
            y = y.astype(np.int64)
    if X.shape[0] == 0:
        raise ValueError(f"{str(path)!r} holds no rows.")
    X.sort_indices()
    return X, y, used


def load_sparse(path, *, n_features=None, zero_based="auto"):
    """Read a sparse data matrix from a svmlight/libsvm file or a SciPy ``.npz``.

    The format is chosen by the extension: ``.npz`` is read with
    :func:`scipy.sparse.load_npz` (as written by :func:`scipy.sparse.save_npz`),
    anything else with :func:`sklearn.datasets.load_svmlight_file`.

    Parameters
    ----------
    path : str or path-like
        The file.
    n_features : int, default=None
        The number of columns expected (for example a fitted model's
        ``n_features_in_``). A svmlight file whose largest index is smaller is
        padded with empty columns; a larger one, or an ``.npz`` of another
        width, is an error.
    zero_based : bool or 'auto', default='auto'
        Whether svmlight column indices start at 0. ``'auto'`` is
        scikit-learn's rule: one-based unless some index is 0. Ignored for
        ``.npz``.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,) or None
        The svmlight targets (int64 when they are all whole numbers that fit
        in int64, else float64); None for ``.npz``, which stores no labels.

    Raises
    ------
    FileNotFoundError
        When ``path`` is not an existing file.
    ValueError
        When the file is not in the format its extension names, holds no
        rows, or does not have ``n_features`` columns.
    """
    X, y, _ = _read_sparse(path, n_features=n_features, zero_based=zero_based)
    return X, y
