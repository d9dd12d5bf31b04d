"""The kernels' pure-Python twins (what runs under ``NUMBA_DISABLE_JIT=1``,
for coverage and debugging) agree with the reference too.

The hand-written LLVM IR loops of ``fastem._kernels._intrinsics`` have
Python twins (``_py_column_gather``, ``_py_column_scatter``,
``_py_block_scatter``) that only run without JIT. This runs the column-run
and blocked-copy tests once more in a subprocess with JIT off, so that a
twin that drifts from its compiled kernel fails the suite.
"""
import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="already running without JIT")
def test_column_runs_and_blocks_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(TESTS / "test_column_runs.py"), str(TESTS / "test_kernels_blocked.py")],
        cwd=TESTS.parent, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout.strip().splitlines()[-1]
