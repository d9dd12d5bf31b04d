"""Numba kernels. Arrays and scalars in, arrays out; no Python objects."""
