import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ZOO_PARTIAL_DATA", "1")  # the tests' datasets are tiny copies in the real formats

import pytest  # noqa: E402

import zoo  # noqa: E402,F401  first: zoo.runtime decides TensorFlow's CPU kernels before any test module loads it


@functools.lru_cache(maxsize=None)
def built(name: str):
    """Build a registered variant once per test session."""
    import zoo

    return zoo.build(name)


@pytest.fixture
def build_once():
    return built


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No download, a fresh data cache, no ~/.keras/datasets: the tests' data comes from scikit-learn's digits."""
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
