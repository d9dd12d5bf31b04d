"""fastem.plotting: the drawn data are the model's / the experiment's numbers."""
import builtins
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fastem import MultinomialMixture, NaiveBayesEM  # noqa: E402
from fastem.datasets import make_corpus  # noqa: E402
from fastem.plotting import plot_accuracy_curve, plot_objective  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def corpus():
    X, y, _ = make_corpus(n_samples=300, n_features=80, n_classes=3, random_state=0)
    y_partial = y.copy()
    y_partial[20:] = -1
    return X, y_partial


@pytest.mark.parametrize("make_model", [
    lambda: NaiveBayesEM(alpha=0.1, tol=0, max_iter=7, random_state=0),
    lambda: MultinomialMixture(n_components=3, tol=0, max_iter=5, random_state=0),
])
def test_plot_objective_draws_lower_bounds(corpus, make_model):
    X, y_partial = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_model().fit(X, y_partial)
    assert model.lower_bounds_.size == model.n_iter_ > 1
    ax = plot_objective(model)
    (line,) = ax.get_lines()
    assert_array_equal(line.get_ydata(), model.lower_bounds_)
    assert_array_equal(line.get_xdata(), np.arange(1, model.n_iter_ + 1))
    assert ax.get_xlabel() == "EM iteration"


def test_plot_objective_on_given_axes_and_unfitted(corpus):
    X, y_partial = corpus
    model = NaiveBayesEM(alpha=0.1).fit(X, y_partial)
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_objective(model, ax=right, color="red") is right
    assert left.get_lines() == [] and len(right.get_lines()) == 1
    with pytest.raises(ValueError, match="not fitted"):
        plot_objective(NaiveBayesEM())


def test_plot_accuracy_curve_means_std_and_log_axis():
    n_labeled = [20, 100, 300]
    em = np.array([[0.30, 0.40, 0.50], [0.60, 0.62, 0.64], [0.70, 0.71, 0.75]])
    nb = np.array([[0.2, 0.2], [0.4, 0.5], [0.6, 0.6]])
    ax = plot_accuracy_curve(n_labeled, {"NB": nb, "NB-EM": em})
    assert ax.get_xscale() == "log"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["NB", "NB-EM"]
    assert_allclose(lines[0].get_xdata(), n_labeled)
    assert_allclose(lines[0].get_ydata(), [0.2, 0.45, 0.6])
    assert_allclose(lines[1].get_ydata(), em.mean(axis=1))
    # the ± std bands: one filled polygon per method spanning mean - std .. mean + std
    bands = ax.collections
    assert len(bands) == 2
    ys = bands[1].get_paths()[0].vertices[:, 1]
    assert_allclose(ys.min(), (em.mean(1) - em.std(1)).min())
    assert_allclose(ys.max(), (em.mean(1) + em.std(1)).max())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["NB", "NB-EM"]


def test_plot_accuracy_curve_bad_shapes():
    with pytest.raises(ValueError, match="one row per entry"):
        plot_accuracy_curve([20, 100], {"NB": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="positive"):
        plot_accuracy_curve([0, 100], {"NB": np.zeros((2, 2))})


def test_missing_matplotlib_message(monkeypatch, corpus):
    X, y_partial = corpus
    model = NaiveBayesEM(alpha=0.1).fit(X, y_partial)
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install fastem\[plot\]"):
        plot_objective(model)
    with pytest.raises(ImportError, match=r"pip install fastem\[plot\]"):
        plot_accuracy_curve([1, 2], {"a": [0.1, 0.2]})


@pytest.mark.parametrize("bad", [[np.nan, 10], [np.inf, 10], [0, 10], [-3, 10]])
def test_plot_accuracy_curve_refuses_non_finite_or_non_positive_x(bad):
    with pytest.raises(ValueError, match="positive numbers"):
        plot_accuracy_curve(bad, {"NB": [0.5, 0.6]})
