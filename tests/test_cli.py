import importlib.util
import io
import subprocess
import sys

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

from fastem import cli
from fastem.cli import main
from fastem.datasets import load_sparse, make_corpus

from helpers import REAL_ARCHIVE, needs_20news  # noqa: E402


def test_demo_prints_the_comparison_table(capsys, tmp_path):
    png = tmp_path / "demo.png"
    code = main(["demo", "--n-samples", "2000", "--n-test", "500", "--n-features", "300",
                 "--n-classes", "4", "--labeled", "8,40", "--separation", "0.5", "--png", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed" in out and not png.exists()
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plot written to {png}" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["8", "40"]
    for row in rows:
        nb_acc, em_acc = float(row[3]), float(row[6])
        assert 0 <= nb_acc <= 1 and 0 <= em_acc <= 1
    # with 40 labels and 1960 unlabelled documents EM must beat labelled-only NB here
    assert float(rows[1][6]) > float(rows[1][3])


def test_demo_rejects_more_labels_than_documents(capsys):
    assert main(["demo", "--n-samples", "10", "--labeled", "20"]) == 2
    assert "exceeds" in capsys.readouterr().err


def test_bad_option_is_one_line_error():
    proc = subprocess.run([sys.executable, "-m", "fastem.cli", "demo", "--labeled", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--labeled" in proc.stderr


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


# ------------------------------------------------------------ fit / predict / load_sparse
@pytest.fixture(autouse=True)
def _no_fastem_data(monkeypatch):
    # the demo reads FASTEM_DATA; these tests choose their corpus explicitly
    monkeypatch.delenv("FASTEM_DATA", raising=False)


@pytest.fixture(scope="module")
def corpus():
    X, y, _ = make_corpus(400, 120, 3, 40, separation=1.0, random_state=0)
    return X, y


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "fastem.cli", *map(str, args)],
                          capture_output=True, text=True, check=False)


def _assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastem: error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_load_sparse_reads_svmlight_and_npz(tmp_path, corpus):
    X, y = corpus
    dump_svmlight_file(X, y, str(tmp_path / "d.svm"))  # zero-based
    sp.save_npz(tmp_path / "d.npz", sp.csc_matrix(X))
    X1, y1 = load_sparse(tmp_path / "d.svm")
    assert X1.format == "csr" and X1.shape == X.shape and (X1 != X).nnz == 0
    assert y1.dtype == np.int64 and np.array_equal(y1, y)
    X2, y2 = load_sparse(str(tmp_path / "d.npz"))
    assert X2.format == "csr" and y2 is None and (X2 != X).nnz == 0
    # a narrower file is padded to the requested width; a wider one is refused
    X3, _ = load_sparse(tmp_path / "d.svm", n_features=200, zero_based=True)
    assert X3.shape == (400, 200) and (X3[:, :120] != X).nnz == 0
    with pytest.raises(ValueError, match="more than the 50 expected"):
        load_sparse(tmp_path / "d.svm", n_features=50, zero_based=True)


def test_load_sparse_one_based_auto(tmp_path):
    (tmp_path / "one.txt").write_text("1 1:2 3:1\n0 2:5\n")
    X, y = load_sparse(tmp_path / "one.txt")
    assert X.toarray().tolist() == [[2, 0, 1], [0, 5, 0]] and y.tolist() == [1, 0]


def test_load_sparse_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_sparse(tmp_path / "missing.svm")
    (tmp_path / "garbage.svm").write_text("this is not svmlight\n")
    with pytest.raises(ValueError, match="not a svmlight/libsvm file"):
        load_sparse(tmp_path / "garbage.svm")
    (tmp_path / "garbage.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a SciPy sparse .npz"):
        load_sparse(tmp_path / "garbage.npz")
    np.savez(tmp_path / "dense.npz", a=np.ones(3))  # a zip, but not a sparse matrix
    with pytest.raises(ValueError, match="not a SciPy sparse .npz"):
        load_sparse(tmp_path / "dense.npz")
    (tmp_path / "empty.svm").write_text("")
    with pytest.raises(ValueError, match="no rows"):
        load_sparse(tmp_path / "empty.svm")


def test_fit_predict_round_trip_svmlight(tmp_path, corpus, capsys):
    X, y = corpus
    y_partial = np.where(np.arange(300) < 30, y[:300], -1)  # 30 labelled, 270 unlabelled
    dump_svmlight_file(X[:300], y_partial, str(tmp_path / "train.svm"))
    dump_svmlight_file(X[300:], y[300:], str(tmp_path / "test.svm"))
    model = tmp_path / "nb.joblib"
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "train.svm"), "--param", "alpha=0.1",
                 "-p", "random_state=0", "--verbose", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "Iteration    1  objective" in out and " s\n" in out  # the EM driver's progress lines
    assert "NaiveBayesEM fitted on 300 rows x 120 features (30 labelled)" in out
    saved = joblib.load(model)
    assert saved["model"].alpha == 0.1 and saved["model"].verbose == 1
    assert saved["model"].classes_.tolist() == [0, 1, 2]
    pred_file = tmp_path / "pred.txt"
    assert main(["predict", str(model), str(tmp_path / "test.svm"), "-o", str(pred_file)]) == 0
    pred = np.array(pred_file.read_text().split(), dtype=np.int64)
    assert pred.shape == (100,)
    np.testing.assert_array_equal(pred, saved["model"].predict(X[300:]))
    assert (pred == y[300:]).mean() > 0.9
    # to standard output as well
    assert main(["predict", str(model), str(tmp_path / "test.svm")]) == 0
    assert capsys.readouterr().out.split() == [str(v) for v in pred]


def test_predict_pads_a_narrower_svmlight_file(tmp_path, corpus, capsys):
    X, y = corpus
    dump_svmlight_file(X, y, str(tmp_path / "train.svm"))
    model = tmp_path / "nb.joblib"
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "train.svm"), "-o", str(model)]) == 0
    # only the first 10 words: the file's largest index is < 120
    small = X[:5, :10]
    dump_svmlight_file(small, y[:5], str(tmp_path / "small.svm"))
    capsys.readouterr()
    assert main(["predict", str(model), str(tmp_path / "small.svm")]) == 0
    padded = sp.hstack([small, sp.csr_matrix((5, 110))], format="csr")
    expected = joblib.load(model)["model"].predict(padded)
    assert capsys.readouterr().out.split() == [str(v) for v in expected]


def test_fit_mixture_on_npz_with_n_components(tmp_path, corpus, capsys):
    X, _ = corpus
    sp.save_npz(tmp_path / "train.npz", X)
    model = tmp_path / "mm.joblib"
    assert main(["fit", "MultinomialMixture", str(tmp_path / "train.npz"), "--n-components", "3",
                 "--param", "init_params='random'", "-p", "random_state=1", "-p", "tol=1e-6",
                 "-o", str(model)]) == 0
    fitted = joblib.load(model)["model"]
    assert fitted.n_components == 3 and fitted.init_params == "random" and fitted.tol == 1e-6
    capsys.readouterr()
    assert main(["predict", str(model), str(tmp_path / "train.npz")]) == 0
    pred = np.array(capsys.readouterr().out.split(), dtype=np.int64)
    np.testing.assert_array_equal(pred, fitted.predict(X))
    assert set(pred) <= {0, 1, 2}


def test_n_components_maps_to_n_classes_for_naive_bayes(tmp_path, corpus):
    X, _ = corpus
    sp.save_npz(tmp_path / "train.npz", X)  # no labels at all: clustering with n_classes
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "train.npz"), "-k", "3",
                 "-p", "init='random'", "-p", "random_state=0", "-o", str(tmp_path / "m.joblib")]) == 0
    assert joblib.load(tmp_path / "m.joblib")["model"].n_classes == 3


def test_labels_file_with_unlabelled_marks(tmp_path, corpus, capsys):
    X, y = corpus
    sp.save_npz(tmp_path / "train.npz", X)
    names = np.array(["sport", "finance", "tech"])[y]
    lines = [names[i] if i < 40 else ("-1", "nan", "NaN", "")[i % 4] for i in range(400)]
    (tmp_path / "labels.txt").write_text("\n".join(lines) + "\n")
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "train.npz"), "--labels",
                 str(tmp_path / "labels.txt"), "-o", str(tmp_path / "nb.joblib")]) == 0
    assert "(40 labelled)" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "nb.joblib"), str(tmp_path / "train.npz")]) == 0
    pred = np.array(capsys.readouterr().out.split())
    assert set(pred) <= {"sport", "finance", "tech"} and (pred == names).mean() > 0.9
    # a labels file overrides the svmlight targets; integer labels stay integers
    dump_svmlight_file(X, np.zeros(400), str(tmp_path / "train.svm"))
    (tmp_path / "ints.txt").write_text("\n".join(str(v) if i < 40 else "-1" for i, v in enumerate(y)))
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "train.svm"), "--labels",
                 str(tmp_path / "ints.txt"), "-o", str(tmp_path / "nb2.joblib")]) == 0
    assert joblib.load(tmp_path / "nb2.joblib")["model"].classes_.tolist() == [0, 1, 2]


def test_labels_file_errors(tmp_path, corpus, capsys):
    X, _ = corpus
    sp.save_npz(tmp_path / "train.npz", X)
    (tmp_path / "short.txt").write_text("1\n2\n")
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "train.npz"), "--labels",
                 str(tmp_path / "short.txt"), "-o", str(tmp_path / "m.joblib")]) == 2
    assert "has 2 lines but the data has 400 rows" in capsys.readouterr().err
    assert main(["fit", "MultinomialMixture", str(tmp_path / "train.npz"), "--labels",
                 str(tmp_path / "short.txt"), "-o", str(tmp_path / "m.joblib")]) == 2
    assert "unsupervised" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()


def test_param_parsing():
    from fastem.cli import CommandError, _parse_param

    assert _parse_param("alpha=0.1") == ("alpha", 0.1)
    assert _parse_param("fit_prior=False") == ("fit_prior", False)
    assert _parse_param("class_prior=None") == ("class_prior", None)
    assert _parse_param("beta_prior=(2, 3)") == ("beta_prior", (2, 3))
    assert _parse_param("init=random") == ("init", "random")  # not a literal: a string
    assert _parse_param("init='random'") == ("init", "random")
    assert _parse_param("max-iter = 5") == ("max_iter", 5)
    with pytest.raises(CommandError, match="name=value"):
        _parse_param("alpha")


def test_unknown_model_is_one_line_error(tmp_path):
    proc = _cli("fit", "NaiveBayes", tmp_path / "x.svm", "-o", tmp_path / "m.joblib")
    _assert_one_line_error(proc, "unknown model 'NaiveBayes'", "NaiveBayesEM", "MultinomialMixture")
    assert proc.returncode == 2


def test_unknown_parameter_is_one_line_error(tmp_path, corpus, capsys):
    X, y = corpus
    dump_svmlight_file(X, y, str(tmp_path / "d.svm"))
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "d.svm"), "--param", "n_components=3",
                 "-o", str(tmp_path / "m.joblib")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastem: error: NaiveBayesEM has no parameter 'n_components'; its "
                          "parameters are alpha, ") and len(err.splitlines()) == 1
    assert not (tmp_path / "m.joblib").exists()


def test_bad_parameter_value_is_one_line_error(tmp_path, corpus, capsys):
    X, y = corpus
    dump_svmlight_file(X, y, str(tmp_path / "d.svm"))
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "d.svm"), "-p", "alpha=-1",
                 "-o", str(tmp_path / "m.joblib")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastem: error: ") and "'alpha'" in err and len(err.splitlines()) == 1


def test_missing_and_garbage_files_are_one_line_errors(tmp_path, capsys):
    proc = _cli("fit", "MultinomialMixture", tmp_path / "missing.svm", "-o", tmp_path / "m.joblib")
    _assert_one_line_error(proc, "missing.svm", "no such file")
    assert proc.returncode == 2
    (tmp_path / "garbage.svm").write_text("hello world\n")
    (tmp_path / "garbage.npz").write_bytes(b"\x00\x01 not a zip")
    for name, message in (("garbage.svm", "not a svmlight/libsvm file"),
                          ("garbage.npz", "not a SciPy sparse .npz file")):
        assert main(["fit", "MultinomialMixture", str(tmp_path / name), "-o",
                     str(tmp_path / "m.joblib")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("fastem: error: data file ") and message in err
        assert len(err.splitlines()) == 1


def test_predict_errors(tmp_path, corpus, capsys):
    X, y = corpus
    dump_svmlight_file(X, y, str(tmp_path / "d.svm"))
    assert main(["predict", str(tmp_path / "missing.joblib"), str(tmp_path / "d.svm")]) == 2
    assert "no such file" in capsys.readouterr().err
    # a data file is not a model file
    assert main(["predict", str(tmp_path / "d.svm"), str(tmp_path / "d.svm")]) == 2
    assert "not a model saved by 'fastem fit'" in capsys.readouterr().err
    # features beyond the model's vocabulary
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "d.svm"), "-o", str(tmp_path / "m.joblib")]) == 0
    dump_svmlight_file(sp.hstack([X, X], format="csr"), y, str(tmp_path / "wide.svm"))
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m.joblib"), str(tmp_path / "wide.svm")]) == 2
    err = capsys.readouterr().err
    assert "240 columns, more than the 120 expected" in err and len(err.splitlines()) == 1


def test_demo_with_missing_archive_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    # an archive asked for by name and not found is an error (exit 2), not a silent synthetic run
    proc = _cli("demo", "--archive", tmp_path / "nowhere.tar.gz")
    _assert_one_line_error(proc, "20 Newsgroups archive not found", "--synthetic")
    assert proc.returncode == 2 and proc.stdout == ""
    monkeypatch.setenv("FASTEM_DATA", str(tmp_path / "nowhere"))
    assert main(["demo", "--n-samples", "10"]) == 2
    # --synthetic ignores FASTEM_DATA
    assert main(["demo", "--synthetic", "--n-samples", "10", "--labeled", "20"]) == 2


class _Terminal(io.StringIO):
    """A standard error that says it is a terminal."""

    def isatty(self):
        return True


def test_fit_shows_progress_on_a_terminal_after_the_delay(tmp_path, corpus, monkeypatch, capsys):
    X, y = corpus
    dump_svmlight_file(X[:300], np.where(np.arange(300) < 30, y[:300], -1), str(tmp_path / "t.svm"))
    args = ["fit", "NaiveBayesEM", str(tmp_path / "t.svm"), "-p", "random_state=0",
            "-o", str(tmp_path / "m.joblib")]
    monkeypatch.setattr(cli, "PROGRESS_DELAY", 0.0)  # every fit counts as slow
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(args) == 0
    lines = terminal.getvalue().splitlines()
    assert lines[0].startswith("Initialization 0: objective")
    assert "Iteration" not in capsys.readouterr().out  # progress goes to standard error
    assert lines[-1].startswith("Initialization 0 converged after")
    # --quiet, or a standard error that is not a terminal: nothing
    for quiet, stream in ((True, _Terminal()), (False, io.StringIO())):
        monkeypatch.setattr(sys, "stderr", stream)
        assert main(args + (["--quiet"] if quiet else [])) == 0
        assert stream.getvalue() == ""
    # a fit faster than the delay prints nothing either
    monkeypatch.setattr(cli, "PROGRESS_DELAY", 3600.0)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert main(args) == 0
    assert sys.stderr.getvalue() == ""


@needs_20news
def test_demo_on_20newsgroups_uses_normalized_features(capsys):
    assert main(["demo", "--archive", str(REAL_ARCHIVE), "--labeled", "300", "--png", ""]) == 0
    out = capsys.readouterr().out
    assert "features: DocumentNormalizer" in out and "alpha=0.03" in out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["300"])
    nb_acc, em_acc = float(row[3]), float(row[6])
    assert em_acc >= 0.70 and em_acc >= nb_acc + 0.10, (nb_acc, em_acc)
