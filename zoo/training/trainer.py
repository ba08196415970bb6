"""`zoo.train`: fit a variant with a named recipe, evaluate on the test split, return a result record.

>>> import zoo
>>> result = zoo.train("resnet_tiny", "mnist_functional", dataset="digits", epochs=1, limit=256,
...                    verbose=0, out_dir=None)
>>> result["status"], result["dataset_source"], result["epochs"]
('ok', 'digits', 1)

Timing is honest and wastes nothing: with Keras' fit, the first train step (tracing and compiling it, then
running it once; its update is kept) is `compile_seconds`, and `train_seconds` covers every later step; the
device loop compiles ahead of time without running a step. Validation and any per-epoch test evaluation are
timed apart, and the record's time columns (data, build, train, validation, test, inference, other) add up
to its `wall_seconds`. A budget (`budget_seconds=`, `budget_images=`) stops training there, mid-epoch if
need be, with the learning-rate schedule fitted to it (`zoo.training.budget`):

>>> result = zoo.train("resnet_tiny", "mnist_functional", dataset="digits", budget_images=320, batch_size=32,
...                    schedule="linear", limit=256, verbose=0, out_dir=None)
>>> result["images_seen"], result["epochs"], result["epochs_planned"] is None
(320, 2, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from zoo import runtime
from zoo.data import load_dataset
from zoo.data.preprocess import augmentation, label_mixing, normalization, pixel_augmentation
from zoo.environment import reset_peak_memory
from zoo.errors import DatasetError, ZooError
from zoo.models.registry import resolve_spec
from zoo.training.batchnorm import reestimate_batchnorm
from zoo.training.lookahead import EmaWeights, Lookahead
from zoo.training.loops import alternating_flips, fit_full_batches, fit_on_device
from zoo.training.scoring import Scorer, divergence
from zoo.training.checkpoint import Checkpoint, capture as capture_state, restore as restore_state, run_key
from zoo.training.budget import LinearDecay, Phases, TrainClock
from zoo.training import optimizers
from zoo.training.distribute import data_parallel
from zoo.training.policy import enable_compilation_cache, resolve_jit_compile, resolve_loop, resolve_precision
from zoo.training.progress import Display
from zoo.training import record as run_record
from zoo.training.recipes import Recipe, get_recipe
from zoo.training.result import RunResult
from zoo.training.speed import inference_images_per_second
from zoo.training.whiten import IMAGES as WHITEN_IMAGES, whiten_stem


def _subset(images, labels, limit, rng):
    if limit is None or limit >= len(labels):
        return images, labels
    keep = np.sort(rng.permutation(len(labels))[:limit])
    return images[keep], labels[keep]


def _network(model_or_name, image_shape, num_classes) -> tuple[keras.Model, object | None]:
    """A registry name or spec is built for the data's shape and classes; a built model must fit them."""
    if isinstance(model_or_name, keras.Model):
        model_shape = tuple(model_or_name.input_shape[1:])
        model_classes = model_or_name.output_shape[-1]
        if model_shape != tuple(image_shape) or model_classes != num_classes:
            raise DatasetError(
                f"model {model_or_name.name!r} takes {model_shape} images and predicts {model_classes} classes, "
                f"but the dataset has {tuple(image_shape)} images and {num_classes} classes"
            )
        return model_or_name, None
    from zoo.models.builder import build

    spec = resolve_spec(model_or_name, input_shape=tuple(image_shape), num_classes=num_classes)
    return build(spec), spec


def _optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer. A budgeted run starts at the peak rate and `TrainClock` sets every step's rate;
    an epoch run gets a step schedule over its `epochs * steps_per_epoch` steps."""
    lr = recipe.lr
    if recipe.schedule != "constant" and not recipe.budgeted:
        total = recipe.epochs * steps_per_epoch
        warmup = min(int(round(recipe.warmup_epochs * steps_per_epoch)), total // 2)
        if recipe.schedule == "linear":
            lr = LinearDecay(recipe.lr, decay_steps=total - warmup, warmup_steps=warmup)
        else:
            lr = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0 if warmup else recipe.lr, decay_steps=max(total - warmup, 1),
                warmup_target=recipe.lr if warmup else None, warmup_steps=warmup)
    wd = recipe.weight_decay or None
    ema = dict(use_ema=True, ema_momentum=recipe.ema) if recipe.ema else {}  # scored through `EmaWeights`
    if recipe.optimizer == "sgd" and recipe.bias_lr != 1:
        opt = optimizers.SGD(lr, momentum=recipe.momentum, nesterov=recipe.nesterov, weight_decay=wd,
                             bias_lr=recipe.bias_lr, **ema)
    elif recipe.optimizer == "sgd":
        opt = keras.optimizers.SGD(lr, momentum=recipe.momentum, nesterov=recipe.nesterov, weight_decay=wd, **ema)
    elif recipe.optimizer == "adamw":
        opt = optimizers.for_backend(optimizers.AdamW)(lr, weight_decay=recipe.weight_decay, **ema)
    else:
        opt = optimizers.for_backend(optimizers.Adam)(lr, weight_decay=wd, **ema)
    if recipe.weight_decay:
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return opt


def _clock(recipe: Recipe, batch_size: int, train_images: int) -> TrainClock:
    """The run's clock; for a budgeted run also its stop and its learning rate (warm-up capped at half the
    budget in images)."""
    warmup = int(round(recipe.warmup_epochs * train_images))
    if recipe.budget_images is not None:
        warmup = min(warmup, recipe.budget_images // 2)
    return TrainClock(batch_size=batch_size, budget_seconds=recipe.budget_seconds,
                      budget_images=recipe.budget_images, peak_lr=recipe.lr, schedule=recipe.schedule,
                      warmup_images=warmup)




#: Images per forward pass when re-estimating BN statistics (few eager calls; the population statistics
#: do not depend on it).
PRECISE_BN_BATCH = 256
#: Test images per evaluation call, at least: scoring needs no small batches, and on a CPU a call of a few
#: hundred images runs faster per image than the training batch of 32 (fewer, larger convolutions).
EVALUATION_BATCH = 256


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype="float32")[labels]




def _load(recipe: Recipe, data_dir, limit, test_limit, rng, devices: int = 1) -> dict:
    """The run's data: seeded subsets, shuffled, the validation split cut off the training images. Data
    parallel over `devices`, every split is cut to a multiple of them (at most devices - 1 images dropped
    each; `train_images` and `test_images` count what was used), as Keras splits every batch evenly."""
    for name, value, least in (("limit", limit, 2), ("test_limit", test_limit, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ZooError(f"{name} must be a whole number of images >= {least}, got {value!r}")
    train_set = load_dataset(recipe.dataset, data_dir=data_dir, split="train", pad_to=recipe.pad_to)
    test_set = load_dataset(recipe.dataset, data_dir=data_dir, split="test", pad_to=recipe.pad_to)
    num_classes = train_set.num_classes
    for split in (train_set, test_set):
        if split.labels.size and (split.labels.min() < 0 or split.labels.max() >= num_classes):
            raise DatasetError(f"{split.name} {split.split} labels span {split.labels.min()}..{split.labels.max()}, "
                               f"outside 0..{num_classes - 1} for its {num_classes} classes")
    x_train, y_train = _subset(train_set.images, train_set.labels, limit, rng)
    x_test, y_test = _subset(test_set.images, test_set.labels, test_limit or limit, rng)
    order = rng.permutation(len(y_train))
    x_train, y_train = x_train[order], y_train[order]
    validation = None
    if recipe.validation_split:
        cut = len(y_train) - max(1, int(round(recipe.validation_split * len(y_train))))
        validation = (x_train[cut:], _one_hot(y_train[cut:], num_classes))
        x_train, y_train = x_train[:cut], y_train[:cut]
        if cut < 1:
            raise ZooError(f"validation_split {recipe.validation_split} of {len(order)} training images leaves "
                           f"none to train on; use more images or a smaller split")
    if devices > 1:
        x_train, y_train, x_test, y_test = (a[: len(a) - len(a) % devices] for a in (x_train, y_train, x_test, y_test))
        if validation is not None:
            validation = tuple(a[: len(a) - len(a) % devices] for a in validation)
        if not len(y_train) or not len(y_test) or (validation is not None and not len(validation[1])):
            raise ZooError(f"devices={devices}: a split holds fewer images than devices; use more images")
    return dict(train_set=train_set, x_train=x_train, y_train=_one_hot(y_train, num_classes), validation=validation,
                x_test=x_test, y_test=_one_hot(y_test, num_classes))


def _assemble(model_or_name, recipe: Recipe, train_set, x_train, precision: str, phases: Phases):
    """The network for the data, behind the recipe's in-model normalization and augmentation (and with its
    stem whitened, `whiten`: timed as the `whiten` phase); returns (training model, network, spec or None)."""
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        net, spec = _network(model_or_name, train_set.image_shape, train_set.num_classes)
        inputs = keras.Input(train_set.image_shape, dtype="uint8", name="image")
        normalize = normalization(recipe.preprocessing, x_train)
        if recipe.whiten:
            with phases("whiten"):
                whiten_stem(net, keras.ops.convert_to_numpy(normalize(x_train[:WHITEN_IMAGES])).astype("float32"))
        x = inputs
        pixel = pixel_augmentation(randaugment=recipe.randaugment, augmix=recipe.augmix,
                                   random_erasing=recipe.random_erasing, seed=recipe.seed)
        if pixel:  # Keras' image augmentations take raw pixels as floats, before the normalization
            x = keras.ops.cast(x, "float32")
            for layer in pixel:
                x = layer(x)
        x = normalize(x)
        for layer in augmentation(flip=recipe.flip is True, crop_pad=recipe.crop_pad, cutout=recipe.cutout,
                                  seed=recipe.seed):
            x = layer(x)
        return keras.Model(inputs, net(x), name=net.name), net, spec
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _compile(model, net, recipe: Recipe, num_classes: int, steps_per_epoch: int, jit_compile: bool) -> None:
    probabilities = net.layers[-1].get_config().get("activation") == "softmax"
    metrics = [keras.metrics.CategoricalAccuracy(name="top1")]
    if num_classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
    model.compile(optimizer=_optimizer(recipe, steps_per_epoch),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=not probabilities,
                                                            label_smoothing=recipe.label_smoothing),
                  metrics=metrics, jit_compile=jit_compile)
    # Created here, eagerly, the optimizer's slots cost a fraction of a second; left to the first traced
    # step, TensorFlow lifts each one out of the graph (resnet18 + Adam: 4.5 of the first step's 8.5 s).
    model.optimizer.build(model.trainable_variables)


def train(model_or_name, recipe: str | Recipe = "fast", *, data_dir=None, limit: int | None = None,
          test_limit: int | None = None, out_dir: str | Path | None = "runs", verbose: int = 1,
          measure_inference: bool = False, inference_batch: int = 256, track_test: bool = False,
          target_top1: float | None = None, callbacks: list | None = None,
          progress: Callable[[dict], None] | None = None, tensorboard: str | Path | None = None,
          checkpoint: str | Path | None = None, **overrides) -> RunResult:
    """Train a variant (name, spec of any family, or built model) with a recipe; return what it measured (a
    `zoo.training.result.RunResult`, read like a dict: `result["top1"]`).

    `overrides` are recipe knobs (`epochs=`, `batch_size=`, `lr=`, `budget_seconds=`, `seed=`, `dataset=`...).
    `limit` caps the number of train and of test images (a seeded random subset), for smoke runs;
    `test_limit` caps the test images alone (budgeted runs: the whole training set, a quick test score).
    With `out_dir`, the model (`model.keras`, preprocessing included), `history.json`, `log.csv` (a row per
    epoch, Keras' `CSVLogger`, written as training goes) and `result.json` are written to
    `out_dir/<model>-<recipe>-<timestamp>/`; with `tensorboard`, Keras' `TensorBoard` callback writes the
    epochs' summaries to that folder (`tensorboard --logdir` on it or on its parent).
    `measure_inference` adds `inference_images_per_second` (a fixed batch of `inference_batch` test
    images through the trained model, after a warm-up call, synchronized on the host).
    `track_test` evaluates the test split after every epoch from the recipe's `test_from` on (outside the
    training clock; with its test-time augmentation, `tta`) into the history's `test_top1` / `test_loss`
    (NaN before `test_from`); `target_top1` (a fraction, implies `track_test`) adds time to accuracy by
    DAWNBench's rule: `epochs_to_target`, and `seconds_to_target` from the start of training (the compiling
    first step and the whitening fit included) to the end of the first evaluation that reached the target,
    every epoch and evaluation before it counted (empty when none did). The test split is only measured,
    it never changes the training. `callbacks` are Keras callbacks added to every `fit` call (Keras' loop).
    With `checkpoint` (a folder), the training state is saved there after every epoch and a rerun of the
    same run continues from the last saved epoch (`zoo.training.checkpoint`; Keras' fit loop: the device
    loop, an epoch in one compiled call, trains without); the folder is removed once the run is done.
    `progress` gets the training's progress events (`zoo.training.progress`); by default, with `verbose`, a
    `zoo.training.progress.Display` on stderr shows them (a live bar on a terminal, a line per epoch elsewhere).

    The record's time columns add up to its `wall_seconds`: data, build (model, compile and the first,
    compiling train step, which is kept: no step is thrown away), train, validation, test, inference, other.
    """
    began = time.perf_counter()
    if keras.backend.backend() == "tensorflow":  # TensorFlow's kernels only matter when it computes
        runtime.warn_if_eigen_by_accident()
    recipe = get_recipe(recipe, **overrides) if isinstance(recipe, str) else recipe.with_overrides(**overrides)
    with data_parallel(recipe.devices, recipe.batch_size) as devices:
        run = _prepare(model_or_name, recipe, devices, data_dir=data_dir, limit=limit, test_limit=test_limit,
                       every_epoch=track_test or target_top1 is not None)
        reset_peak_memory()
        started = time.time()
        display = Display() if progress is None and verbose else None  # train's own, shown while it trains
        saved = Checkpoint(checkpoint, run_key(_definition(run, model_or_name, limit, test_limit, target_top1))) \
            if checkpoint is not None else None
        with display or contextlib.nullcontext():
            history, run_dir = _fit(run, out_dir, callbacks=callbacks, tensorboard=tensorboard,
                                    progress=progress or display, checkpoint=saved)
        why_diverged = divergence(history)
        scores, inference = _evaluate(run, diverged=bool(why_diverged),
                                      inference_batch=inference_batch if measure_inference else None)
        record = run_record.describe(run, history, scores, inference, why_diverged, target_top1=target_top1,
                                     started=started)
        result = run_record.save(run, record, run_dir, wall=time.perf_counter() - began)
        if saved is not None:
            saved.remove()
        return result


def _definition(run, model_or_name, limit, test_limit, target_top1) -> dict:
    """What makes two runs the same run, for a checkpoint's key: the net, every recipe knob, the data."""
    net = run.spec.to_dict() if run.spec else getattr(model_or_name, "name", str(model_or_name))
    if isinstance(net, dict) and net.get("family") == "resnet":  # keys of checkpoints from before the tag
        net = {k: v for k, v in net.items() if k != "family"}
    # knobs at their class defaults are left out, so that a knob added to Recipe later keeps existing keys
    knobs = {f.name: getattr(run.recipe, f.name) for f in dataclasses.fields(run.recipe)
             if f.name != "source" and getattr(run.recipe, f.name) != f.default}
    return {"net": net, "recipe": run.recipe.name, "knobs": knobs, "limit": limit, "test_limit": test_limit,
            "target_top1": target_top1, "backend": keras.backend.backend(), "precision": run.precision}


@dataclasses.dataclass
class _Run:
    """What one run prepared before training: the recipe as resolved, its data, the model and its loop."""
    recipe: Recipe
    devices: int
    data: dict
    precision: str
    jit_compile: bool
    batch_size: int
    model: keras.Model
    net: keras.Model
    spec: object | None  # the family's spec (zoo.models.family); None for a model built elsewhere
    loop: str
    trainer: Callable
    clock: TrainClock
    phases: Phases
    test: Scorer
    rng: np.random.Generator
    resumed_from: int | None = None  # the epoch a checkpoint resumed the run from


def _prepare(model_or_name, recipe: Recipe, devices: int, *, data_dir, limit, test_limit, every_epoch) -> _Run:
    """Seed, load the data (the `data` phase), assemble and compile the model and its loop (`build`)."""
    enable_compilation_cache()
    keras.utils.set_random_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    phases = Phases()
    with phases("data"):
        data = _load(recipe, data_dir, limit, test_limit, rng, devices)
    x_train, y_train, train_set = data["x_train"], data["y_train"], data["train_set"]
    precision = resolve_precision(recipe.precision)
    jit_compile = resolve_jit_compile(recipe.jit_compile)
    batch_size = min(recipe.batch_size, len(y_train))
    steps_per_epoch = len(y_train) // batch_size
    clock = _clock(recipe, batch_size, steps_per_epoch * batch_size)
    with phases("build"):
        model, net, spec = _assemble(model_or_name, recipe, train_set, x_train, precision, phases)
        _compile(model, net, recipe, train_set.num_classes, steps_per_epoch, jit_compile)
        loop, trainer = _loop(recipe, model, x_train, y_train, batch_size=batch_size, devices=devices, clock=clock)
    evaluation_batch = max(recipe.batch_size, EVALUATION_BATCH)
    test = Scorer(model, data["x_test"], data["y_test"], batch_size=evaluation_batch - evaluation_batch % devices,
                  phases=phases, every_epoch=every_epoch, tta=recipe.tta, first_epoch=recipe.test_from)
    return _Run(recipe, devices, data, precision, jit_compile, batch_size, model, net, spec, loop, trainer, clock,
                phases, test, rng)


def _fit(run: _Run, out_dir, *, callbacks, tensorboard, progress, checkpoint=None) -> tuple[dict, Path | None]:
    """Train to the recipe's epochs or budget; return the history and the run's folder (under `out_dir`,
    None without it). Keras' loop also gets `callbacks` and the run's CSV / TensorBoard logs; with a
    `checkpoint`, it resumes from the saved state and saves after every epoch."""
    if run.loop == "device" and (callbacks or tensorboard is not None):
        raise ZooError('Keras callbacks (tensorboard= included) need Keras\' fit loop; the device loop runs '
                       'an epoch in one call (use loop="keras")')
    for knob, what in (("lookahead", "averages the weights between steps"), ("ema", "scores the weights' average")):
        if run.loop == "device" and getattr(run.recipe, knob):
            raise ZooError(f"{knob} {what} in Keras' fit loop; the device loop runs an epoch in one call "
                           '(use loop="keras")')
    if run.recipe.ema and keras.backend.backend() == "jax":
        raise ZooError("ema on the JAX backend: Keras' fit empties the optimizer's averages while it runs, so "
                       "they cannot be scored between epochs here; use the tensorflow or torch backend")
    run_dir = run_record.run_folder(out_dir, run.net.name, run.recipe.name)
    lookahead = _lookahead(run)
    ema = [EmaWeights()] if run.recipe.ema else []  # first: the trained weights are back before others read them
    callbacks = [*ema, *(callbacks or ()), *run_record.log_callbacks(run_dir, tensorboard), *lookahead] \
        if run.loop == "keras" else []
    resume, after_epoch, restored = {}, run.test.after_epoch, None
    if checkpoint is not None and run.loop == "keras":  # the device loop trains without (an epoch is one call)
        state = dict(model=run.model, rng=run.rng, clock=run.clock, scorer=run.test, phases=run.phases,
                     lookahead=lookahead[0] if lookahead else None, ema=ema[0] if ema else None)
        if (saved := checkpoint.load()) is not None:
            restored = restore_state(*saved, **state)
            run.resumed_from = restored["epochs_done"]
            resume = {"start_epoch": restored["epochs_done"], "history": restored["history"]}

        def after_epoch(epoch: int, history: dict) -> None:
            run.test.after_epoch(epoch, history)
            meta, arrays = capture_state(**state, history=history, epochs_done=epoch + 1)
            if restored is not None:  # the compile seconds of every process the run has used
                meta["clock"]["compile_seconds"] = (meta["clock"]["compile_seconds"] or 0.0) + \
                    restored["compile_seconds"]
            began = time.perf_counter()
            checkpoint.save(meta, arrays)
            # between this epoch's end and the next one's start: the time to target counts it (DAWNBench)
            run.test.seconds[-1] += time.perf_counter() - began
    history = run.trainer(batch_size=run.batch_size, callbacks=callbacks,
                          epochs=None if run.recipe.budgeted else run.recipe.epochs, validation=run.data["validation"],
                          rng=run.rng, progress=progress, after_epoch=after_epoch, clock=run.clock, **resume)
    if restored is not None:  # this process compiled its first step again: both count
        run.clock.compile_seconds = (run.clock.compile_seconds or 0.0) + restored["compile_seconds"]
    return history, run_dir


def _lookahead(run: _Run) -> list:
    """The recipe's `Lookahead` callback (none without one); its progress: of the budget, else of the steps."""
    if not run.recipe.lookahead:
        return []
    clock, recipe = run.clock, run.recipe
    total = recipe.epochs * (len(run.data["y_train"]) // run.batch_size)
    progress = clock.progress if clock.budgeted else (lambda: callback.steps / total)
    callback = Lookahead(every=recipe.lookahead, progress=progress)
    return [callback]


def _loop(recipe: Recipe, model, x_train, y_train, *, batch_size: int, devices: int, clock: TrainClock):
    """The training loop for this run, behind one call: (`"device"` or `"keras"`, a function taking the fit
    arguments and returning the history). The device loop (JAX: data on the device) compiles its epoch
    here, ahead of time, into `clock.compile_seconds`."""
    loop = resolve_loop(recipe.loop, data_bytes=x_train.nbytes + y_train.nbytes, budgeted=recipe.budgeted)
    flips = alternating_flips(len(y_train), recipe.seed) if recipe.flip == "alternate" else None
    mix = label_mixing(mixup=recipe.mixup, cutmix=recipe.cutmix, seed=recipe.seed)
    if loop == "keras":
        return loop, functools.partial(fit_full_batches, model, x_train, y_train, flips=flips, mix=mix)
    if mix is not None:
        raise ZooError("mixup / cutmix mix each batch as Keras' fit loop gathers it; the device loop keeps the "
                       'data on the device (loop="keras")')
    if flips is not None:
        raise ZooError('flip="alternate" mirrors images as Keras\' fit loop gathers them; the device loop keeps '
                       'them on the device (loop="keras", or flip=true)')
    if devices > 1:
        raise ZooError(f"devices={recipe.devices} trains through Keras' fit; the device loop runs on one device "
                       "(loop=\"keras\")")
    from zoo.training.device_loop import DeviceEpochs

    epochs = DeviceEpochs(model, x_train, y_train, batch_size=batch_size)
    clock.compile_seconds = epochs.compile_seconds

    def fit(*, callbacks, **kwargs):  # callbacks: refused before this point (Keras' fit loop only)
        return fit_on_device(epochs, **kwargs)
    return loop, fit




def _evaluate(run: _Run, *, diverged: bool, inference_batch: int | None) -> tuple[dict, float | None]:
    """After training: BN statistics re-estimated (`precise_bn`), the test scores (the last epoch's when
    they were tracked), and the inference speed when asked for; (scores, images per second or None)."""
    recipe, phases, x_train = run.recipe, run.phases, run.data["x_train"]
    if recipe.precise_bn and not diverged:
        with phases("precise_bn"):
            reestimate_batchnorm(run.model, x_train[:recipe.precise_bn],
                                 batch_size=max(run.batch_size, PRECISE_BN_BATCH))
    scores = run.test.after(len(run.clock.epoch_seconds))
    if inference_batch is None or diverged:
        return scores, None
    with phases("inference"):
        return scores, inference_images_per_second(run.model, run.data["x_test"], batch_size=inference_batch)
