"""Training: recipes, budgets and their schedules, runtime policy (precision, loops, data parallelism), the
trainer (`zoo.train`), BN re-estimation, progress display and inference on saved models.

Imports `zoo.models` and `zoo.data`, never `zoo.experiments` or `zoo.cli`."""
