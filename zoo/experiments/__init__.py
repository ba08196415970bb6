"""Experiments: sweeps and their runner (`zoo bench`, on Ray across machines), the typed results table,
comparisons, plots, throughput, keras-tuner searches and result digests.

Imports `zoo.training` and below, never `zoo.cli`."""
