"""fastem: fast Expectation-Maximisation on sparse data."""
from .naive_bayes import NaiveBayesEM

__version__ = "0.1.0"
__all__ = ["NaiveBayesEM", "__version__"]
