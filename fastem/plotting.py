"""Pictures of fitted models and experiments (matplotlib, the optional ``[plot]`` extra).

matplotlib is imported inside each function, so ``import fastem.plotting``
works without it; calling a function without matplotlib raises an
ImportError that says how to install it.
"""
import numpy as np

__all__ = ["plot_objective", "plot_accuracy_curve"]

_INSTALL_HINT = ("fastem.plotting needs matplotlib: pip install fastem[plot] "
                 "(or pip install 'matplotlib>=3.5').")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL_HINT) from exc
    return plt


def _axes(ax):
    if ax is None:
        _, ax = _pyplot().subplots()
    else:
        _pyplot()  # same message when matplotlib is missing but an ax-like object was passed
    return ax


def plot_objective(model, ax=None, **line_kw):
    """Plot the EM objective after each iteration of a fitted fastem model.

    Parameters
    ----------
    model : fitted fastem estimator
        Any model fitted by the EM driver (``NaiveBayesEM``,
        ``MultinomialMixture``, ...); its ``lower_bounds_`` (objective per
        sample after each iteration of the kept initialisation) is drawn.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.
    **line_kw
        Passed to ``ax.plot``.

    Returns
    -------
    ax : matplotlib Axes
        The line's x-data are the iteration numbers ``1 .. n_iter_`` and its
        y-data ``model.lower_bounds_``.
    """
    bounds = getattr(model, "lower_bounds_", None)
    if bounds is None:
        raise ValueError(f"{type(model).__name__} is not fitted (it has no lower_bounds_): "
                         "call fit before plot_objective.")
    bounds = np.asarray(bounds, dtype=np.float64)
    ax = _axes(ax)
    line_kw.setdefault("marker", "o" if bounds.size <= 30 else None)
    ax.plot(np.arange(1, bounds.size + 1), bounds, **line_kw)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("objective per sample")
    ax.set_title(f"{type(model).__name__}: objective per iteration")
    if bounds.size == 0:
        ax.text(0.5, 0.5, "no EM iteration (nothing latent)", transform=ax.transAxes,
                ha="center", va="center")
    return ax


def plot_accuracy_curve(n_labeled, accuracies_by_method, ax=None):
    """Plot accuracy against the number of labelled examples, mean ± std over seeds.

    Parameters
    ----------
    n_labeled : array-like of shape (n_sizes,)
        Numbers of labelled examples (x axis, logarithmic).
    accuracies_by_method : dict of str -> array-like of shape (n_sizes, n_seeds)
        Accuracy of each method for each size (rows) and seed (columns). A
        1-D array is read as one seed.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    ax : matplotlib Axes
        One line per method (in the dict's order) whose y-data are the means
        over seeds, with a shaded band of ± one standard deviation.
    """
    n_labeled = np.asarray(n_labeled, dtype=np.float64)
    if n_labeled.ndim != 1 or not np.all(np.isfinite(n_labeled) & (n_labeled > 0)):
        raise ValueError("n_labeled must be a 1-D array of positive numbers (log x axis).")
    ax = _axes(ax)
    for name, acc in accuracies_by_method.items():
        acc = np.asarray(acc, dtype=np.float64)
        if acc.ndim == 1:
            acc = acc[:, None]
        if acc.ndim != 2 or acc.shape[0] != n_labeled.shape[0]:
            raise ValueError(f"accuracies for {name!r} have shape {acc.shape}; expected "
                             f"({n_labeled.shape[0]}, n_seeds), one row per entry of n_labeled.")
        mean, std = acc.mean(axis=1), acc.std(axis=1)
        line, = ax.plot(n_labeled, mean, marker="o", label=name)
        ax.fill_between(n_labeled, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(n_labeled)
    ax.set_xticklabels([f"{int(n):,}" if float(n).is_integer() else f"{n:g}" for n in n_labeled])
    ax.minorticks_off()
    ax.set_xlabel("number of labelled documents")
    ax.set_ylabel("accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax
