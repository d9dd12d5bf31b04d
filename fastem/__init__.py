"""fastem: fast Expectation-Maximisation on sparse data."""
from .mixture import BernoulliMixture, MultinomialMixture
from .naive_bayes import NaiveBayesEM

__version__ = "0.1.0"
__all__ = ["BernoulliMixture", "MultinomialMixture", "NaiveBayesEM", "__version__"]
