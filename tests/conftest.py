"""Test-suite settings shared by every test file."""
import os
import sys

from hypothesis import settings

# tests import the slow reference implementations as ``reference``
sys.path.insert(0, os.path.dirname(__file__))

# Property tests draw the same examples on every run (no example database,
# no wall-clock deadline: JIT compilation happens inside the first example).
settings.register_profile("fastem", derandomize=True, database=None, deadline=None)
settings.load_profile("fastem")
