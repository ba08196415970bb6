import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@functools.lru_cache(maxsize=None)
def built(name: str):
    """Build a registered variant once per test session."""
    import zoo

    return zoo.build(name)


@pytest.fixture
def build_once():
    return built
