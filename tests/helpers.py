"""Small helpers shared by the test files."""
from contextlib import contextmanager
from pathlib import Path
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem.datasets import ARCHIVE_NAME, find_20newsgroups_archive

#: where CI and the examples keep the real corpus: ../shared beside the repository
SHARED_ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "20news" / ARCHIVE_NAME


def _real_archive():
    try:
        return find_20newsgroups_archive(default=SHARED_ARCHIVE)
    except FileNotFoundError:
        return None


#: the real 20 Newsgroups archive, or None when it is absent
REAL_ARCHIVE = _real_archive()

#: marks a test that needs the real archive
needs_20news = pytest.mark.skipif(
    REAL_ARCHIVE is None,
    reason=f"20 Newsgroups archive not found (set FASTEM_DATA or put it at {SHARED_ARCHIVE})")


@contextmanager
def quiet():
    """Silence ConvergenceWarning (fits with deliberately few iterations)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
