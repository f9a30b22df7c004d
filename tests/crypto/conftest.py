"""Fixtures shared by the crypto tests."""

from tests.crypto.test_rotation import home, quick  # noqa: F401  (fixtures for test_nodes)
