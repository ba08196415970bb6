"""Sweep definitions: TOML files naming variants x datasets x recipes x seeds (+ knob overrides).

A sweep file (the built-in ones are in `benchmarks/sweeps/`)::

    description = "what this sweep is for"

    [defaults]                 # every group inherits these unless it sets them itself
    seeds = [0]
    backends = ["tensorflow", "jax"]  # each run in a process on that Keras backend (omit: this one)
    limit = 1000               # at most this many train and test images (omit: the whole dataset)
    test_limit = 2000          # at most this many test images (a budgeted run: whole training set, quick score)
    inference_batch = 64       # batch of the inference-speed timing (0: no timing)
    target_top1 = 0.94         # time to accuracy: test top-1 after every epoch (untimed), seconds to reach it
    overrides = { epochs = 1 } # recipe knobs, merged under each group's own overrides
                               # (a budget: { budget_seconds = 600 } or { budget_images = 50000 })

    [[group]]
    variants = ["resnet18_cifar"]
    recipes = ["fast"]
    grid = { epochs = [16, 24], lr = [0.2, 0.4] }           # one run per combination (x seeds)
    spec = { stem_kernel = [3, 7], head = "gmp" }           # architecture: a list is an axis, a value is fixed
                               # (depths, widths, strides: a list of lists is an axis)

    [[group]]
    variants = ["resnet18_cifar10_tf2", "resnet*_cifar"]   # names or globs over the registry
    recipes = ["tf2_cifar10"]
    datasets = ["cifar10"]     # omit: each recipe's own dataset

>>> sweep = parse_sweep('''
... [[group]]
... variants = ["resnet20", "resnet32"]
... recipes = ["fast"]
... seeds = [0, 1]
... overrides = { epochs = 2 }
... ''', name="demo")
>>> [(r.variant, r.seed, r.overrides["epochs"]) for r in sweep.runs]
[('resnet20', 0, 2), ('resnet20', 1, 2), ('resnet32', 0, 2), ('resnet32', 1, 2)]
>>> len(sweep.runs[0].run_id)
12
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import ZooError, did_you_mean
from zoo.files import read_text_file
from zoo.models.registry import list_variants
from zoo.training.recipes import MAX_SEED, get_recipe

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

GROUP_KEYS = ("variants", "recipes", "datasets", "seeds", "backends", "limit", "test_limit", "inference_batch",
              "target_top1", "overrides", "grid", "spec")
#: spec fields whose value is itself a list: for them only a list of lists is an axis
TUPLE_FIELDS = ("input_shape", "depths", "widths", "strides")
BACKENDS = ("tensorflow", "jax", "torch")
BUDGET_KNOBS = ("budget_seconds", "budget_images")
TOP_KEYS = ("description", "defaults", "group")


@dataclass(frozen=True)
class PlannedRun:
    """One training run of a sweep; `run_id` is a hash of everything that defines it."""

    variant: str
    recipe: str
    dataset: str
    seed: int
    overrides: dict = field(default_factory=dict)
    limit: int | None = None
    inference_batch: int = 256
    target_top1: float | None = None
    test_limit: int | None = None
    backend: str | None = None  # None: the sweep process's own
    spec: dict = field(default_factory=dict)  # ResNetSpec fields changed from the variant's

    @property
    def run_id(self) -> str:
        key = [self.variant, self.dataset, self.recipe, self.seed, self.overrides, self.limit]
        if self.inference_batch != 256:  # runs with the default inference batch keep the ids they always had
            key.append({"inference_batch": self.inference_batch})
        if self.spec:  # runs of the registered architecture keep the ids they always had
            key.append({"spec": self.spec})
        if self.target_top1 is not None:  # runs without a target keep the ids they always had
            key.append(self.target_top1)
        if self.test_limit is not None:  # likewise for runs without a test limit
            key.append({"test_limit": self.test_limit})
        if self.backend is not None:  # and without a backend of their own
            key.append({"backend": self.backend})
        key = json.dumps(key, sort_keys=True)
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        knobs = " ".join(f"{k}={v}" for k, v in self.overrides.items())
        target = f" · target top-1 {self.target_top1:.2%}" if self.target_top1 is not None else ""
        backend = f" · {self.backend}" if self.backend else ""
        spec = " · spec " + " ".join(f"{k}={v}" for k, v in self.spec.items()) if self.spec else ""
        return (f"{self.variant}{spec} · {self.dataset} · {self.recipe} · seed {self.seed}"
                + (f" · {knobs}" if knobs else "") + target + backend)

    def model(self):
        """What `zoo.train` builds: the variant's name, or its spec with this run's fields changed."""
        if not self.spec:
            return self.variant
        from zoo.models.registry import resolve_spec

        return resolve_spec(self.variant, **self.spec)


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    runs: tuple[PlannedRun, ...]


def _as_list(value, key: str, where: str) -> list:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise ZooError(f"{where}: {key} must be a value or a non-empty list, got {value!r}")


def _names(value, key: str, where: str) -> list[str]:
    names = _as_list(value, key, where)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ZooError(f"{where}: {key} must be names (strings), got {name!r}")
    return names


def _expand_variants(patterns: list, where: str) -> list[str]:
    names: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ZooError(f"{where}: variants must be names or globs, got {pattern!r}")
        found = list_variants(pattern)
        if not found:
            from zoo.models.registry import get_spec

            get_spec(pattern)  # raises UnknownVariantError with close-match suggestions
        names += [n for n in found if n not in names]
    return names


def _int_or_none(value, key: str, where: str, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ZooError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def parse_sweep(text: str, *, name: str, extra_overrides: dict | None = None,
                max_epochs: int | None = None, spec_overrides: dict | None = None) -> Sweep:
    """Parse sweep TOML; validates every name and knob before anything runs.

    `extra_overrides` (recipe knobs) apply to every run over the file's own; a budget among them replaces
    the file's budgets (`zoo bench --budget 10m`: every run gets 600 training seconds and no images budget).
    `max_epochs` caps runs whose recipe asks for more epochs (their overrides then show the cap; shorter
    runs are left as they are). `spec_overrides` (`zoo bench --set FIELD=VALUE`) fix spec fields in every
    run, over the file's own.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ZooError(f"sweep {name}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ZooError(f"sweep {name}: nested too deeply to read (arrays or tables inside one another)") from None
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ZooError(f"sweep {name}: unknown top-level key(s) {', '.join(unknown)}; expected {', '.join(TOP_KEYS)}")
    defaults = data.get("defaults", {})
    groups = data.get("group", [])
    if not isinstance(defaults, dict):
        raise ZooError(f"sweep {name}: defaults must be a table ([defaults]), got {_shown(defaults)}")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ZooError(f"sweep {name}: group must be [[group]] tables, got {_shown(groups)}")
    if not groups:
        raise ZooError(f"sweep {name}: no [[group]] tables, so nothing to run")
    _check_plain(data, f"sweep {name}")
    max_epochs = _int_or_none(max_epochs, "max_epochs", f"sweep {name}")
    where = [f"sweep {name} group {index}" for index in range(1, len(groups) + 1)]
    total = sum(_count(defaults, group, w) for group, w in zip(groups, where))
    if total > MAX_RUNS:
        raise ZooError(f"sweep {name} plans {total:,} runs, over the limit of {MAX_RUNS:,}: split it into "
                       "smaller sweeps or fewer grid values")
    runs: list[PlannedRun] = []
    for group, group_where in zip(groups, where):
        runs += _group_runs(defaults, group, where=group_where,
                            extra_overrides=extra_overrides or {}, max_epochs=max_epochs,
                            spec_overrides=spec_overrides or {})
    seen: dict[str, PlannedRun] = {}
    for run in runs:
        seen.setdefault(_same_configuration(run), run)  # a run listed twice (however spelled) runs once
    return Sweep(name=name, description=data.get("description", ""), runs=tuple(seen.values()))


#: The most runs one sweep may plan: counted before any list is built, so a typo'd grid is refused at once.
MAX_RUNS = 10_000


def _shown(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_plain(value, where: str) -> None:
    """Refuse TOML values a run cannot be keyed by (dates and times): they are not knobs of anything."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        elif not isinstance(item, (str, int, float, bool)):
            raise ZooError(f"{where}: {_shown(item)} is a TOML {type(item).__name__}; "
                           "sweep values are names, numbers and true/false")


def _length(value) -> int:
    return len(value) if isinstance(value, list) and value else 1


def _count(defaults: dict, group: dict, where: str) -> int:
    """How many runs a group plans (an upper bound, before variant globs are expanded: a glob counts as the
    variants it matches), computed without building any of them."""
    merged = {**defaults, **group}
    count = 1
    for key in ("recipes", "datasets", "seeds", "backends"):
        count *= _length(merged.get(key))
    variants = merged.get("variants")
    patterns = variants if isinstance(variants, list) else [variants]
    count *= max(1, sum(len(list_variants(p)) or 1 for p in patterns if isinstance(p, str)))
    for key in ("grid", "spec"):
        table = merged.get(key)
        if isinstance(table, dict):
            for field_name, values in table.items():
                axis = isinstance(values, list) if key == "grid" else _is_spec_axis(field_name, values)
                count *= len(values) if axis and values else 1
    return count


def _grid(value, where: str) -> list[dict]:
    """`grid = { epochs = [16, 24], lr = [0.2, 0.4] }` -> one overrides dict per combination."""
    if not isinstance(value, dict) or not value:
        raise ZooError(f"{where}: grid must be a table of knob = [values], got {value!r}")
    for knob, values in value.items():
        if not isinstance(values, list) or not values:
            raise ZooError(f"{where}: grid {knob} must be a non-empty list of values, got {values!r}")
    return [dict(zip(value, combination)) for combination in itertools.product(*value.values())]


def _spec_points(value, where: str, fixed: dict) -> list[dict]:
    """`spec = { stem_kernel = [3, 7], head = "gmp" }` -> one dict of spec fields per combination; `fixed`
    (`--set`) replaces the file's value of a field."""
    if not isinstance(value, dict):
        raise ZooError(f"{where}: spec must be a table of FIELD = value or [values], got {value!r}")
    axes = {}
    for field_name, values in {**value, **{k: v for k, v in fixed.items()}}.items():
        is_axis = _is_spec_axis(field_name, values)
        if is_axis and field_name not in fixed and not values:
            raise ZooError(f"{where}: spec {field_name} must be a value or a non-empty list of values, got []")
        axes[field_name] = values if is_axis and field_name not in fixed else [values]
    return [dict(zip(axes, combination)) for combination in itertools.product(*axes.values())]


def _is_spec_axis(field_name: str, values) -> bool:
    """Whether a sweep's `spec` value is an axis (a list; for list-valued fields, a list of lists)."""
    return isinstance(values, list) and (field_name not in TUPLE_FIELDS or any(isinstance(v, list) for v in values))


def _check_spec(variant: str, spec: dict, where: str) -> None:
    """Refuse, at planning, a spec change the variant cannot take, naming the field and the value."""
    from zoo.errors import SpecError
    from zoo.models.registry import resolve_spec

    try:
        resolve_spec(variant, **spec)
    except SpecError as exc:
        raise ZooError(f"{where}: {variant} with spec {json.dumps(spec, sort_keys=True)}: {exc}") from None


def _group_runs(defaults: dict, group: dict, *, where: str, extra_overrides: dict,
                max_epochs: int | None, spec_overrides: dict) -> list[PlannedRun]:
    for key in list(defaults) + list(group):
        if key not in GROUP_KEYS:
            raise ZooError(f"{where}: unknown key {key!r}; expected {', '.join(GROUP_KEYS)}")
    merged = {**defaults, **group}
    for table in (defaults, group):  # grid and spec say it themselves, below
        if "overrides" in table and not isinstance(table["overrides"], dict):
            raise ZooError(f"{where}: overrides must be a table of knob = value, got {_shown(table['overrides'])}")
    base = {**defaults.get("overrides", {}), **group.get("overrides", {})}
    grid = _grid(merged["grid"], where) if "grid" in merged else [{}]
    if any(knob in extra_overrides for knob in BUDGET_KNOBS):  # one budget for every run replaces the file's
        base = {k: v for k, v in base.items() if k not in BUDGET_KNOBS}
        grid = [{k: v for k, v in point.items() if k not in BUDGET_KNOBS} for point in grid]
    for knob in ("seed", "dataset"):
        if knob in {**base, **extra_overrides, **grid[0]}:
            raise ZooError(f"{where}: set {knob}s with {knob}s = [...], not the {knob} knob")
    if "variants" not in merged or "recipes" not in merged:
        raise ZooError(f"{where}: needs variants and recipes")
    variants = _expand_variants(_as_list(merged["variants"], "variants", where), where)
    recipes = _names(merged["recipes"], "recipes", where)
    seeds = _as_list(merged.get("seeds", [0]), "seeds", where)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ZooError(f"{where}: seeds must be integers in [0, {MAX_SEED}], got {_shown(seed)}")
    backends = _names(merged["backends"], "backends", where) if "backends" in merged else [None]
    for backend in backends:
        if backend is not None and backend not in BACKENDS:
            raise ZooError(f"{where}: backends must be among {', '.join(BACKENDS)}, got {backend!r}")
    limit = _int_or_none(merged.get("limit"), "limit", where, minimum=2)  # one image to train, one to test
    test_limit = _int_or_none(merged.get("test_limit"), "test_limit", where)
    inference_batch = _int_or_none(merged.get("inference_batch", 256), "inference_batch", where, minimum=0)
    target = merged.get("target_top1")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                               or not 0 <= target <= 1):
        raise ZooError(f"{where}: target_top1 must be a test top-1 fraction in [0, 1], got {target!r}")
    specs = _spec_points(merged.get("spec", {}), where, spec_overrides)
    for variant, spec in itertools.product(variants, specs):
        _check_spec(variant, spec, where)
    runs = []
    for recipe_name, point in itertools.product(recipes, grid):
        overrides = {**base, **point, **extra_overrides}
        recipe = get_recipe(recipe_name, **overrides)  # validates the recipe name and every knob now
        if max_epochs is not None and recipe.epochs > max_epochs and not recipe.budgeted:
            overrides["epochs"] = max_epochs
        datasets = _names(merged.get("datasets", [recipe.dataset]), "datasets", where)
        for dataset in datasets:
            _check_dataset(dataset, where)
        for variant, spec, dataset, seed, backend in itertools.product(variants, specs, datasets, seeds, backends):
            runs.append(PlannedRun(variant=variant, recipe=recipe_name, dataset=dataset, seed=seed,
                                   overrides=dict(sorted(overrides.items())), limit=limit,
                                   inference_batch=inference_batch, test_limit=test_limit,
                                   target_top1=None if target is None else float(target), backend=backend,
                                   spec=dict(sorted(spec.items()))))
    return runs


def _same_configuration(run: PlannedRun) -> str:
    """What makes two runs one configuration whatever their spelling: numbers compared as numbers (`lr = 1`
    and `lr = 1.0` plan one run; the run id keeps the spelling, so the tables' ids never change)."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    return json.dumps(plain([run.variant, run.recipe, run.dataset, run.seed, run.overrides, run.limit, run.spec,
                             run.inference_batch, run.target_top1, run.test_limit, run.backend]), sort_keys=True)


def _check_dataset(name: str, where: str) -> None:
    """Refuse a dataset that is neither a named one nor an existing image folder or archive, at planning."""
    from zoo.data.datasets import ALIASES, NAMED

    if name in NAMED or name in ALIASES or Path(name).expanduser().exists():
        return
    hint = did_you_mean(name, NAMED + tuple(ALIASES))
    raise ZooError(f"{where}: unknown dataset {name!r}{'; ' + hint if hint else ''} (datasets: {', '.join(NAMED)}, "
                   "or a path to an image folder or archive)")


def sweep_dirs() -> list[Path]:
    """Where built-in sweep names are looked up: ./benchmarks/sweeps, then the zoo checkout's own."""
    package = Path(__file__).resolve().parents[1]  # zoo/
    dirs = [Path.cwd() / "benchmarks" / "sweeps", package.parent / "benchmarks" / "sweeps", package / "sweeps"]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def builtin_sweeps() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in sweep_dirs():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def load_sweep(name_or_path: str, *, extra_overrides: dict | None = None, max_epochs: int | None = None,
               spec_overrides: dict | None = None) -> Sweep:
    """A sweep by built-in name (`quick`, `articles`, `all-variants`) or by TOML file path."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        known = builtin_sweeps()
        if name_or_path not in known:
            hint = did_you_mean(name_or_path, known)
            raise ZooError(f"unknown sweep {name_or_path!r}{'; ' + hint if hint else ''} (built-in: {', '.join(known) or 'none found'}; "
                           "or give a path to a .toml file)")
        path = known[name_or_path]
    text = read_text_file(path, "sweep file")
    return parse_sweep(text, name=path.stem, extra_overrides=extra_overrides, max_epochs=max_epochs,
                       spec_overrides=spec_overrides)


def pending_runs(sweep: Sweep, table, *, retry_failed: bool = False) -> list[PlannedRun]:
    """The sweep's runs without a row yet (or, with retry_failed, whose row did not end ok)."""
    statuses = dict(zip(table["run_id"], table["status"]))
    return [r for r in sweep.runs
            if r.run_id not in statuses or (retry_failed and statuses[r.run_id] != "ok")]
