"""The benchmark command computes the same numbers as its baselines (no timing
is asserted: speed is reported by ``fastem bench`` and asv, not tested)."""
import io

import numpy as np
import pytest

from fastem.bench import _best_time, _peak_rss_mb, make_bench_corpus, run
from fastem.cli import main


def test_bench_cases_agree_with_their_baselines():
    out = io.StringIO()
    rows = run(n_samples=600, n_features=300, nnz=12000, n_components=(3, 7), n_threads=2,
               repeat=1, out=out)
    assert [r["case"].split(" (")[0] for r in rows] == [
        "read CSR data+indices once", "EM iteration K=3", "EM iteration K=7", "supervised fit K=20"]
    for row in rows[1:]:
        assert row["diff"] < 1e-9, row
        assert row["fastem"] > 0 and row["baseline"] > 0
    text = out.getvalue()
    assert "ratio" in text and "EM iteration K=7" in text


def test_bench_corpus_hits_the_requested_nnz():
    X, _, _ = make_bench_corpus(2000, 500, 40000, random_state=0)
    assert abs(X.nnz - 40000) / 40000 < 0.1


def test_bench_command_line(capsys):
    assert main(["bench", "--n-samples", "300", "--n-features", "100", "--nnz", "3000",
                 "-k", "2", "--threads", "1", "--repeat", "1"]) == 0
    assert "EM iteration K=2" in capsys.readouterr().out


def test_bench_gaussian_option_runs_the_gaussian_benchmark(monkeypatch):
    import fastem.gaussian_bench as gaussian_bench

    calls = []
    monkeypatch.setattr(gaussian_bench, "run_gaussian", lambda **kw: calls.append(kw) or [])
    assert main(["bench", "--gaussian", "--threads", "1", "--repeat", "2"]) == 0
    assert calls == [dict(n_jobs=1, repeat=2, seed=0, out=None)]


def test_gaussian_benchmark_prints_to_out(capsys):
    from fastem.gaussian_bench import run_gaussian

    out = io.StringIO()
    rows = run_gaussian(n_samples=400, n_features=3, n_components=2, n_iter=3,
                        covariance_types=("diag",), n_jobs=1, repeat=1, out=out)
    assert capsys.readouterr().out == ""
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("GaussianMixture: n_samples=400") and lines[-1].split()[0] == "diag"
    assert [r["covariance_type"] for r in rows] == ["diag"] and rows[0]["rel_diff"] < 1e-6
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        run_gaussian(repeat=0, out=out)


def test_supervised_case_counts_the_classes_present():
    # one document: one class, whatever its label
    out = io.StringIO()
    rows = run(n_samples=1, n_features=50, nnz=10, n_components=(2,), n_threads=1, repeat=1, out=out)
    assert rows[-1]["case"] == "supervised fit K=1" and "supervised fit K=1 " in out.getvalue()


def test_bench_corpus_refuses_more_nnz_than_cells_and_bounds_the_length():
    with pytest.raises(ValueError, match="exceeds n_samples x n_features"):
        make_bench_corpus(20, 3, 600)
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        run(n_samples=20, n_features=30, nnz=100, repeat=0)
    # asking for every cell: documents stop at n_features * (1 + ln n_features) words
    X, _, _ = make_bench_corpus(200, 100, 20000, random_state=0)
    assert X.sum() / 200 < 1.05 * 100 * (1 + np.log(100))
    assert 0.5 * 20000 < X.nnz <= 20000


def test_scaling_needs_a_document_of_distinct_words():
    from fastem.bench import run_scaling

    with pytest.raises(ValueError, match="n_features=50 is fewer than the 90"):
        run_scaling(nnz=(1000,), n_features=50, out=io.StringIO())


def test_bench_both_dtypes(capsys):
    assert main(["bench", "--n-samples", "300", "--n-features", "100", "--nnz", "3000",
                 "-k", "3", "--threads", "1", "--repeat", "1", "--dtype", "both"]) == 0
    lines = capsys.readouterr().out.splitlines()
    em = [line for line in lines if line.startswith("EM iteration K=3")]
    supervised = [line for line in lines if line.startswith("supervised fit")]
    assert len(em) == 2 and "float32" in em[1] and "float32" not in em[0]
    assert len(supervised) == 2 and "float32" in supervised[1]
    # float64 agrees with SciPy to ~1e-12, float32 to single precision
    assert float(em[0].split()[-6]) < 1e-9
    assert float(em[1].split()[-6]) < 1e-5


def test_peak_memory_of_repeated_runs_is_one_run():
    """Timing a fit three times must not report two fits' memory: the last
    result is dropped before the next run."""
    size = 64 << 20

    def allocate():
        a = np.empty(size, dtype=np.uint8)
        a.fill(1)  # resident
        return a

    (_, result), peak = _peak_rss_mb(lambda: _best_time(allocate, 3))
    if peak is None:
        pytest.skip("no resettable peak resident memory on this system")
    assert result.nbytes == size
    assert 0.9 * (size >> 20) < peak < 1.5 * (size >> 20)


def test_scaling_times_every_corpus_in_turns(capsys):
    from fastem.bench import run_scaling

    out = io.StringIO()
    rows = run_scaling(nnz=(3000, 9000), n_features=2000, n_components=(3, 4), n_threads=1,
                       rounds=2, out=out)
    assert [r["n_components"] for r in rows] == [3, 3, 4, 4]
    for row, target in zip(rows, (3000, 9000) * 2):
        assert abs(row["nnz"] - target) / target < 0.15
        assert f"({round(target / 90)} docs)" in row["case"]  # documents of about 90 words
    for k in (3, 4):
        of_k = [r for r in rows if r["n_components"] == k]
        assert min(r["vs_lowest"] for r in of_k) == 1.0
        assert all(r["best_ns"] > 0 and r["median_ns"] >= r["best_ns"] for r in of_k)
    assert "vs lowest" in out.getvalue()
    assert main(["bench", "--scaling", "2000,4000", "-k", "2", "--n-features", "100",
                 "--threads", "1"]) == 0
    assert "EM iteration K=2, " in capsys.readouterr().out
    assert main(["bench", "--scaling", "50", "-k", "2", "--n-features", "100"]) == 2
    assert "at least 90" in capsys.readouterr().err
