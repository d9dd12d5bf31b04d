"""Command-line errors: one line on stderr (argparse's usage and error lines
for a bad option value), exit 2 for bad usage or files, 1 for a failed run;
never a traceback."""
import io
import os
import subprocess
import sys
import tarfile

import joblib
import pytest
from sklearn.datasets import dump_svmlight_file

from fastem import cli
from fastem.cli import CommandError, main
from fastem.datasets import make_corpus

# small sizes: were a check missing, the command would run quickly and the test fail
SMALL_DEMO = ["demo", "--n-samples", "200", "--n-test", "50", "--n-features", "50",
              "--labeled", "8", "--png", ""]
SMALL_BENCH = ["bench", "--n-samples", "200", "--n-features", "50", "--nnz", "1000", "-k", "2",
               "--repeat", "1"]


@pytest.fixture(autouse=True)
def _no_fastem_data(monkeypatch):
    monkeypatch.delenv("FASTEM_DATA", raising=False)


@pytest.fixture
def no_gaussian_run(monkeypatch):
    """run_gaussian replaced by a recorder (the real one takes a minute)."""
    import fastem.gaussian_bench as gaussian_bench

    calls = []
    monkeypatch.setattr(gaussian_bench, "run_gaussian", lambda **kw: calls.append(kw) or [])
    return calls


def _one_line_error(capsys, *fragments):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastem: error: "), captured.err
    for fragment in fragments:
        assert fragment in lines[0]
    return captured


@pytest.mark.parametrize("argv, option", [
    (SMALL_BENCH + ["--threads", "0"], "--threads"),
    (SMALL_BENCH + ["--gaussian", "--threads", "0"], "--threads"),
    (SMALL_BENCH + ["--random-state", "-1"], "--random-state"),
    (SMALL_BENCH + ["--random-state", str(2**32)], "--random-state"),
    (SMALL_BENCH + ["--alpha", "-1"], "--alpha"),
    (SMALL_BENCH + ["--alpha", "nan"], "--alpha"),
    (SMALL_BENCH + ["--repeat", "0"], "--repeat"),
    (SMALL_BENCH + ["--repeat", "-1"], "--repeat"),
    (SMALL_BENCH + ["--gaussian", "--repeat", "0"], "--repeat"),
    (SMALL_BENCH + ["--gaussian", "--repeat", "-1"], "--repeat"),
    (SMALL_BENCH + ["--nnz", "0"], "--nnz"),
    (SMALL_BENCH + ["--n-samples", "0"], "--n-samples"),
    (SMALL_DEMO + ["--random-state", "-1"], "--random-state"),
    (SMALL_DEMO + ["--alpha", "-1"], "--alpha"),
    (SMALL_DEMO + ["--max-iter", "-1"], "--max-iter"),
    (SMALL_DEMO + ["--doc-length", "0"], "--doc-length"),
    (SMALL_DEMO + ["--doc-length", "nan"], "--doc-length"),
    (SMALL_DEMO + ["--separation", "inf"], "--separation"),
    (SMALL_DEMO + ["--n-test", "0"], "--n-test"),
])
def test_bad_option_values_are_usage_errors(argv, option, capsys, no_gaussian_run):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err.splitlines()[-1]
    assert no_gaussian_run == []


@pytest.mark.parametrize("argv, fragment", [
    (["demo", "--labeled", "2000", "--n-samples", "1000"], "--labeled 2000 exceeds --n-samples 1000"),
    (["bench", "--scaling", "50", "-k", "2", "--n-features", "100"], "at least 90"),
    (["bench", "--scaling", "1000", "-k", "2", "--n-features", "50", "--threads", "1"],
     "n_features=50 is fewer than the 90"),
    (["bench", "--n-samples", "20", "--n-features", "3", "--nnz", "600", "-k", "2", "--repeat", "1",
      "--threads", "1"], "--nnz 600 exceeds --n-samples x --n-features = 60"),
])
def test_usage_errors_exit_2_with_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    assert _one_line_error(capsys, fragment).out == ""


def test_gaussian_bench_gets_the_repeat_and_the_output(no_gaussian_run):
    out = io.StringIO()
    args = cli.build_parser().parse_args(["bench", "--gaussian", "--repeat", "3", "--threads", "1"])
    assert cli.bench(args, out=out) == 0
    assert no_gaussian_run == [dict(n_jobs=1, repeat=3, seed=0, out=out)]


def test_a_value_the_library_refuses_is_a_one_line_error(monkeypatch, capsys):
    import fastem.datasets

    def refuse(*args, **kwargs):
        raise ValueError("make_corpus refused this")

    monkeypatch.setattr(fastem.datasets, "make_corpus", refuse)
    assert main(SMALL_DEMO) == 1
    _one_line_error(capsys, "make_corpus refused this")


# ------------------------------------------------------------ demo: --png and the archive
def test_png_path_names_the_file_written(tmp_path):
    assert cli._png_path("") is None
    assert cli._png_path(str(tmp_path / "myplot")) == str(tmp_path / "myplot.png")
    assert cli._png_path(str(tmp_path / "myplot.")) == str(tmp_path / "myplot.png")
    assert cli._png_path(str(tmp_path / "a.dir" / "plot")) == str(tmp_path / "a.dir" / "plot.png")
    assert cli._png_path(str(tmp_path / "plot.png")) == str(tmp_path / "plot.png")
    with pytest.raises(CommandError, match="is a directory"):
        cli._png_path(str(tmp_path))


def test_demo_refuses_a_directory_for_png_before_running(tmp_path, capsys):
    assert main(SMALL_DEMO[:-2] + ["--png", str(tmp_path)]) == 2
    assert _one_line_error(capsys, "is a directory").out == ""
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / f"{tmp_path.name}.png").exists()


def test_demo_png_with_matplotlib(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(SMALL_DEMO[:-2] + ["--png", str(tmp_path / "out.txt")]) == 2
    assert _one_line_error(capsys, "out.txt").out == ""
    assert main(SMALL_DEMO[:-2] + ["--png", str(tmp_path / "myplot")]) == 0
    assert f"plot written to {tmp_path / 'myplot.png'}" in capsys.readouterr().out
    assert (tmp_path / "myplot.png").read_bytes()[:4] == b"\x89PNG"


def _truncated_gzip(path):
    with tarfile.open(path, "w:gz") as tar:
        data = os.urandom(100_000)  # incompressible, so that half the file is half the data
        info = tarfile.TarInfo("20news-bydate-train/sci.space/1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    content = path.read_bytes()
    path.write_bytes(content[:len(content) // 2])


def test_demo_on_a_file_that_is_not_the_archive(tmp_path, capsys):
    (tmp_path / "text.tar.gz").write_text("not an archive\n")
    _truncated_gzip(tmp_path / "truncated.tar.gz")
    for name in ("text.tar.gz", "truncated.tar.gz"):
        assert main(["demo", "--archive", str(tmp_path / name)]) == 2
        _one_line_error(capsys, name, "is it the 20 Newsgroups bydate archive?", "--synthetic")


def test_demo_names_fastem_data_when_it_is_wrong(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTEM_DATA", str(tmp_path / "nonexistent"))
    assert main(["demo"]) == 2
    err = _one_line_error(capsys, f"FASTEM_DATA={str(tmp_path / 'nonexistent')!r}").err
    assert "archive=" not in err


# ------------------------------------------------------------ fit
@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    X, y, _ = make_corpus(200, 30, 2, 20, separation=1.0, random_state=0)
    path = tmp_path_factory.mktemp("data") / "train.svm"
    dump_svmlight_file(X, y, str(path))
    return path


def test_fit_offers_only_models_predict_can_use(train_file, tmp_path, capsys):
    assert "DocumentNormalizer" not in cli._estimators()
    assert set(cli._estimators()) >= {"NaiveBayesEM", "MultinomialMixture", "BernoulliMixture",
                                      "GaussianMixture"}
    assert main(["fit", "DocumentNormalizer", str(train_file), "-o", str(tmp_path / "dn.joblib")]) == 2
    _one_line_error(capsys, "unknown model 'DocumentNormalizer'")
    assert not (tmp_path / "dn.joblib").exists()


def test_fit_gaussian_mixture_uses_diagonal_covariances(train_file, tmp_path, capsys):
    model = tmp_path / "gm.joblib"
    assert main(["fit", "GaussianMixture", str(train_file), "-k", "2", "-p", "random_state=0",
                 "-o", str(model)]) == 0
    fitted = joblib.load(model)["model"]
    assert fitted.covariance_type == "diag" and fitted.means_.shape == (2, 30)
    capsys.readouterr()
    assert main(["predict", str(model), str(train_file)]) == 0
    assert set(capsys.readouterr().out.split()) <= {"0", "1"}
    assert main(["fit", "GaussianMixture", str(train_file), "-k", "2", "-p", "covariance_type=full",
                 "-o", str(tmp_path / "full.joblib")]) == 2
    _one_line_error(capsys, "covariance_type='full'", "-p covariance_type=diag")
    assert main(["fit", "GaussianMixture", str(train_file), "-k", "2",
                 "-p", "covariance_type='spherical'", "-o", str(tmp_path / "sph.joblib")]) == 0
    assert joblib.load(tmp_path / "sph.joblib")["model"].covariance_type == "spherical"


def test_labels_beyond_int64_stay_distinct(train_file, tmp_path, capsys):
    big = ["99999999999999999999", "99999999999999999998"]
    (tmp_path / "huge.txt").write_text("\n".join(big + ["-1"] * 198) + "\n")
    y = cli._read_labels(tmp_path / "huge.txt", 200)
    assert y[:2].tolist() == big and y[2] is None
    assert main(["fit", "NaiveBayesEM", str(train_file), "--labels", str(tmp_path / "huge.txt"),
                 "-o", str(tmp_path / "nb.joblib")]) == 0
    assert sorted(joblib.load(tmp_path / "nb.joblib")["model"].classes_.tolist()) == sorted(big)
    # numbers that fit stay integers
    (tmp_path / "ok.txt").write_text("\n".join([str(2**63 - 1), str(-2**63)] + ["-1"] * 198))
    assert cli._read_labels(tmp_path / "ok.txt", 200)[:2].tolist() == [2**63 - 1, -2**63]


def test_svmlight_targets_beyond_int64_are_not_wrapped(tmp_path, capsys):
    # read as floats (not INT64_MIN), which NaiveBayesEM refuses as continuous, like
    # scikit-learn's classifiers; before, the fit learnt a class -9223372036854775808
    (tmp_path / "big.svm").write_text("1e20 1:1 2:1\n2 2:1\n-1 1:1\n")
    assert main(["fit", "NaiveBayesEM", str(tmp_path / "big.svm"), "-o", str(tmp_path / "m.joblib")]) == 1
    _one_line_error(capsys, "NaiveBayesEM: ", "continuous")
    assert not (tmp_path / "m.joblib").exists()


# ------------------------------------------------------------ a closed pipe
def test_a_reader_that_goes_away_ends_quietly(train_file, tmp_path):
    model = tmp_path / "nb.joblib"
    assert main(["fit", "NaiveBayesEM", str(train_file), "-o", str(model)]) == 0
    # 'fastem predict ... | head -0': the pipe is closed before anything is written
    proc = subprocess.Popen([sys.executable, "-m", "fastem.cli", "predict", str(model),
                             str(train_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait() == 1
    assert err == ""


def test_broken_pipe_in_process_returns_1(monkeypatch):
    def closed(args, out=None):
        raise BrokenPipeError

    monkeypatch.setattr(cli, "demo", closed)
    assert main(["demo"]) == 1  # pytest's captured stdout has no file descriptor to redirect


def _alias(alias, target, tmp_path, monkeypatch):
    """A path naming ``target``: itself, relative, or a hard or symbolic link."""
    if alias == "same":
        return str(target)
    if alias == "relative":
        monkeypatch.chdir(target.parent)
        return os.path.join(".", target.name)
    link = tmp_path / "out.joblib"
    if alias == "hard":
        os.link(target, link)
    else:
        os.symlink(target, link)
    return str(link)


ALIASES = ["same", "relative", "hard", "symbolic"]


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("which", ["data", "labels"])
def test_fit_refuses_to_write_over_an_input(train_file, tmp_path, capsys, monkeypatch, alias,
                                            which):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{i % 2}\n" for i in range(200)))
    data = tmp_path / "train.svm"
    data.write_bytes(train_file.read_bytes())
    target = data if which == "data" else labels
    before = target.read_bytes()
    output = _alias(alias, target, tmp_path, monkeypatch)
    argv = ["fit", "NaiveBayesEM", str(data), "--labels", str(labels), "-o", output]
    assert main(argv) == 2
    _one_line_error(capsys, f"is the {which} file", "would destroy it")
    assert target.read_bytes() == before
    # another file is written as usual
    assert main(argv[:-1] + [str(tmp_path / "model.joblib")]) == 0
    assert (tmp_path / "model.joblib").stat().st_size > 0


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("which", ["model", "data"])
def test_predict_refuses_to_write_over_an_input(train_file, tmp_path, capsys, monkeypatch, alias,
                                                which):
    model = tmp_path / "nb.joblib"
    assert main(["fit", "NaiveBayesEM", str(train_file), "-o", str(model)]) == 0
    data = tmp_path / "train.svm"
    data.write_bytes(train_file.read_bytes())
    target = model if which == "model" else data
    before = target.read_bytes()
    capsys.readouterr()
    output = _alias(alias, target, tmp_path, monkeypatch)
    assert main(["predict", str(model), str(data), "-o", output]) == 2
    _one_line_error(capsys, f"is the {which} file", "would destroy it")
    assert target.read_bytes() == before
    assert main(["predict", str(model), str(data), "-o", str(tmp_path / "pred.txt")]) == 0
    assert len((tmp_path / "pred.txt").read_text().splitlines()) == 200


def test_predict_refuses_its_model_file_as_output_before_loading_it(tmp_path, capsys,
                                                                    monkeypatch):
    model = tmp_path / "not-a-model.joblib"
    model.write_bytes(b"not a pickle")
    monkeypatch.setattr("joblib.load", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(["predict", str(model), str(model), "-o", str(model)]) == 2
    _one_line_error(capsys, "is the model file", "would destroy it")
    assert model.read_bytes() == b"not a pickle"


@pytest.mark.parametrize("command", ["fit", "predict"])
def test_output_that_is_a_directory_is_refused_before_any_work(command, train_file, tmp_path,
                                                               capsys, monkeypatch):
    import fastem.naive_bayes

    model = tmp_path / "nb.joblib"
    assert main(["fit", "NaiveBayesEM", str(train_file), "-o", str(model)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(fastem.naive_bayes.NaiveBayesEM, "fit",
                        lambda *a, **k: pytest.fail("the model was fitted"))
    monkeypatch.setattr(fastem.naive_bayes.NaiveBayesEM, "predict",
                        lambda *a, **k: pytest.fail("the model predicted"))
    argv = (["fit", "NaiveBayesEM", str(train_file)] if command == "fit"
            else ["predict", str(model), str(train_file)])
    assert main(argv + ["-o", str(tmp_path)]) == 2
    _one_line_error(capsys, f"-o {str(tmp_path)!r} is a directory")
