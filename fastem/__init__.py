"""fastem: fast Expectation-Maximisation on sparse data."""
from .gaussian import GaussianMixture
from .mixture import BernoulliMixture, MultinomialMixture
from .naive_bayes import NaiveBayesEM

__version__ = "0.1.0"
__all__ = ["BernoulliMixture", "GaussianMixture", "MultinomialMixture", "NaiveBayesEM", "__version__"]
