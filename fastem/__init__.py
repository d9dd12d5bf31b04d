"""fastem: fast Expectation-Maximisation on sparse data."""
from ._base import progress
from .gaussian import GaussianMixture
from .mixture import BernoulliMixture, MultinomialMixture
from .naive_bayes import NaiveBayesEM
from .preprocessing import DocumentNormalizer

__version__ = "0.1.0"
__all__ = ["BernoulliMixture", "DocumentNormalizer", "GaussianMixture", "MultinomialMixture",
           "NaiveBayesEM", "progress", "__version__"]
