"""Named training recipes, as data: one per source article, plus `fast`.

>>> from zoo.training.recipes import get_recipe
>>> r = get_recipe("d2l_cifar10", epochs=3)
>>> (r.optimizer, r.lr, r.batch_size, r.epochs, r.validation_split)
('sgd', 0.005, 100, 3, 0.1)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields, replace

from zoo.data.scaling import MODES
from zoo.errors import ZooError, did_you_mean

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "linear")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
LOOPS = ("auto", "keras", "device")
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 1_000_000  # far beyond any schedule; larger counts overflow the step arithmetic


@dataclass(frozen=True)
class Recipe:
    """Every training knob. `precision="auto"` means bf16 mixed precision on a GPU/TPU and on TensorFlow or
    torch on a CPU with bfloat16 instructions (AVX512_BF16, AMX), float32 otherwise
    (`zoo.training.policy.resolve_precision`);
    `jit_compile="auto"` means XLA on a GPU/TPU and, on a CPU, TensorFlow's oneDNN kernels (XLA:CPU
    convolutions are an order of magnitude slower: benchmarks/results/cpu-2core/README.md, "Measurements
    behind the library's choices"; JAX always compiles with XLA).
    Fast-recipe ingredients (Jordan 2024, airbench; each composes with any variant): `bias_lr`, `lookahead`
    (`zoo.training.lookahead`), `tta` (`zoo.training.tta`), `whiten` (`zoo.training.whiten`; the stem conv must be k x k, valid,
    with 2·k·k·channels filters, as `airbench94`'s), and the `linear` schedule (triangular with warm-up).
    Augmentations beyond flip / pad-crop / cutout are Keras' own layers (`zoo.data.preprocess`): `randaugment`,
    `augmix` and `random_erasing` inside the model on the raw pixels, `mixup` / `cutmix` on each training
    batch's images and labels (one of the two).
    `ema` is Keras' `use_ema` (an exponential moving average of the weights, scored and saved in their place:
    `zoo.training.lookahead.EmaWeights`).
    `loop="auto"` means the device loop (`zoo.training.device_loop`) on JAX with an accelerator, Keras' `fit` otherwise.

    A budget (`budget_seconds` of training, `budget_images` seen, or both: whichever is spent first) bounds the
    run instead of `epochs`, which it then ignores: training stops at the budget, mid-epoch if need be, and the
    schedule (`linear`: Li et al.'s budget-aware decay; `cosine`) reaches zero exactly there (`zoo.training.budget`).
    """

    name: str
    dataset: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float = 0.9          # SGD only
    nesterov: bool = False         # SGD only
    weight_decay: float = 0.0
    schedule: str = "constant"     # "cosine" / "linear": warm-up over warmup_epochs (capped at half the run), then down to zero
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    preprocessing: str = "unit"
    flip: bool | str = False       # true: random mirror per image; "alternate": each image every other epoch
    crop_pad: int = 0
    cutout: int = 0
    mixup: float = 0.0             # keras.layers.MixUp's alpha: images and labels blended in pairs (0: off)
    cutmix: float = 0.0            # keras.layers.CutMix's factor: a patch of another image, labels by area (0: off)
    randaugment: int = 0           # keras.layers.RandAugment: this many random operations per image (0: off)
    augmix: bool = False           # keras.layers.AugMix (Hendrycks et al. 2020)
    random_erasing: float = 0.0    # keras.layers.RandomErasing's factor: the share of images erased (0: off)
    validation_split: float = 0.0
    pad_to: int | None = None
    precision: str = "float32"
    jit_compile: bool | str = "auto"  # "auto": XLA on a GPU/TPU; on CPU TensorFlow's own kernels
    loop: str = "auto"             # "device": JAX, data on the device, one compiled call per epoch; "keras": fit
    seed: int = 0
    budget_seconds: float | None = None  # stop after this many training seconds (the first, compiling step excluded)
    budget_images: int | None = None     # stop after this many training images
    precise_bn: int = 0            # after training, re-estimate BN statistics over this many training images
    devices: int = 1               # data parallel over this many local devices (keras.distribution, JAX); 0 = all
    bias_lr: float = 1.0           # SGD: BN offsets (beta) learn at lr x bias_lr (airbench: 64)
    lookahead: int = 0             # > 0: average the weights every this many steps, ramped up (zoo.training.lookahead)
    ema: float = 0.0               # > 0: Keras' use_ema with this momentum; scored and saved with the average
    tta: int = 0                   # test-time augmentation: 0 none, 1 mirror, 2 mirror + 1-pixel translates
    whiten: bool = False           # set the stem conv to the training patches' whitening and freeze it (airbench)
    test_from: int = 1             # with a target (time to accuracy), score the test split after each epoch from this one
    source: str = dataclasses.field(default="", compare=False)

    def __post_init__(self):
        def fail(field, why):
            raise ZooError(f"recipe {field} {why}, got {getattr(self, field)!r}")

        for field in ("epochs", "batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(field, "must be an integer >= 1")
        for field in ("crop_pad", "cutout", "seed", "precise_bn", "devices", "lookahead", "test_from", "randaugment"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                fail(field, "must be an integer >= 0")
        for field, low, high in (("lr", 0, math.inf), ("momentum", 0, 1), ("weight_decay", 0, 1),
                                 ("label_smoothing", 0, 1), ("validation_split", 0, 1),
                                 ("warmup_epochs", 0, MAX_EPOCHS), ("bias_lr", 0, math.inf), ("mixup", 0, 100),
                                 ("ema", 0, 1)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value < high):
                fail(field, f"must be a number in [{low}, {high})")
        if self.seed > MAX_SEED:
            fail("seed", f"must be at most {MAX_SEED} (the backends' random generators take 32 bits)")
        if self.epochs > MAX_EPOCHS:
            fail("epochs", f"must be at most {MAX_EPOCHS:,}")
        if self.lr == 0:
            fail("lr", "must be > 0")
        if self.bias_lr == 0:
            fail("bias_lr", "must be > 0")
        if self.bias_lr != 1 and self.optimizer != "sgd":
            fail("bias_lr", f"scales SGD's step; {self.optimizer} normalizes gradients, so it must be 1 there")
        if isinstance(self.tta, bool) or self.tta not in (0, 1, 2):
            fail("tta", "must be 0 (none), 1 (mirror) or 2 (mirror + translates)")
        for field, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("preprocessing", MODES),
                               ("precision", PRECISIONS), ("loop", LOOPS)):
            if getattr(self, field) not in choices:
                fail(field, f"must be one of {', '.join(choices)}")
        if self.flip not in (True, False, "alternate") or not isinstance(self.flip, (bool, str)):
            fail("flip", 'must be true, false or "alternate"')
        for field in ("cutmix", "random_erasing"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                fail(field, "must be a number in [0, 1]")
        if self.mixup and self.cutmix:
            fail("cutmix", "and mixup both mix labels; give one of them")
        for field in ("nesterov", "whiten", "augmix"):
            if not isinstance(getattr(self, field), bool):
                fail(field, "must be true or false")
        if not isinstance(self.jit_compile, bool) and self.jit_compile != "auto":
            fail("jit_compile", 'must be true, false or "auto"')
        if self.budget_seconds is not None and (isinstance(self.budget_seconds, bool) or not isinstance(
                self.budget_seconds, (int, float)) or not 0 < self.budget_seconds < math.inf):
            fail("budget_seconds", "must be None or a number of seconds > 0")
        if self.budget_images is not None and (isinstance(self.budget_images, bool)
                                               or not isinstance(self.budget_images, int) or self.budget_images < 1):
            fail("budget_images", "must be None or an integer >= 1")
        if self.pad_to is not None and (isinstance(self.pad_to, bool) or not isinstance(self.pad_to, int)
                                        or self.pad_to < 1):
            fail("pad_to", "must be None or an integer >= 1")

    @property
    def budgeted(self) -> bool:
        return self.budget_seconds is not None or self.budget_images is not None

    def with_overrides(self, **overrides) -> "Recipe":
        """A copy with some knobs changed (`None` values are ignored); unknown knobs are an error."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        unknown = [k for k in overrides if k not in KNOBS]
        if unknown:
            hints = [k + (f" ({hint})" if (hint := did_you_mean(k, KNOBS, 2)) else "") for k in unknown]
            raise ZooError(f"unknown recipe knob(s): {'; '.join(hints)}; knobs are {', '.join(KNOBS)}")
        return replace(self, **overrides)


KNOBS = tuple(f.name for f in fields(Recipe) if f.name not in ("name", "source"))

RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("tf2_cifar10", dataset="cifar10", epochs=20, batch_size=128, optimizer="adam", lr=1e-4,
           preprocessing="minus1_1", source="seed 000: Adam 1e-4, batch 128, 20 epochs, x*2/255-1"),
    Recipe("tf2_cifar100", dataset="cifar100", epochs=500, batch_size=512, optimizer="adam", lr=1e-3,
           preprocessing="centered",
           source="seed 001: Adam 1e-3, batch 512, 500 epochs (override with --epochs), x/255-0.5"),
    Recipe("mnist_functional", dataset="mnist", epochs=5, batch_size=64, optimizer="adam", lr=1e-3,
           preprocessing="unit", validation_split=0.2, pad_to=32,
           source="seed 002: MNIST zero-padded to 32x32, Adam, batch 64, 5 epochs, 20% validation, x/255"),
    Recipe("d2l_cifar10", dataset="cifar10", epochs=100, batch_size=100, optimizer="sgd", lr=0.005, momentum=0.9,
           preprocessing="unit", validation_split=0.1,
           source="seed 004: SGD 0.005 momentum 0.9, batch 100, 100 epochs, 10% validation, x/255, top-1/top-5"),
    Recipe("budget", dataset="cifar10", epochs=1, batch_size=32, optimizer="adam", lr=2e-3, schedule="linear",
           preprocessing="standardize", budget_seconds=60.0, precise_bn=512,
           source="zoo, for a time budget (default 60 s; a sweep or --budget sets it): Adam 2e-3, batch 32, "
                  "linear decay to zero at the budget (Li et al. 2020), standardized, no augmentation, "
                  "BN statistics re-estimated on 512 training images at the end"),
    Recipe("airbench", dataset="cifar10", epochs=10, batch_size=1024, optimizer="sgd", lr=1.5, momentum=0.85,
           nesterov=True, weight_decay=0.009, schedule="linear", warmup_epochs=2, label_smoothing=0.2,
           preprocessing="standardize", flip="alternate", crop_pad=2, precision="auto", bias_lr=64.0, lookahead=5,
           tta=2, whiten=True,
           source="Jordan 2024 (airbench94) in Keras: Nesterov SGD 1.5 (its 11.5 per 1024 summed, momentum 0.85), "
                  "decoupled decay, BN offsets at 64x, triangular schedule, label smoothing 0.2, "
                  "alternating flip + translate 2, lookahead every 5 steps (decay 0.95, ramped), whitened stem, TTA mirror + translates; 10 epochs"),
    Recipe("fast", dataset="cifar10", epochs=18, batch_size=512, optimizer="sgd", lr=0.4, momentum=0.9,
           nesterov=True, weight_decay=5e-4, schedule="cosine", warmup_epochs=2, label_smoothing=0.1,
           preprocessing="standardize", flip=True, crop_pad=4, precision="auto",
           source="zoo: SGD+Nesterov, warm-up + cosine, label smoothing 0.1, flip + pad-crop 4, bf16 on GPU and on CPUs with bf16 instructions, XLA"),
]}


def get_recipe(name: str, **overrides) -> Recipe:
    """The named recipe with `overrides` applied; unknown names and knobs are a clear `ZooError`."""
    if name not in RECIPES:
        hint = did_you_mean(name, RECIPES)
        raise ZooError(f"unknown recipe {name!r}{'; ' + hint if hint else ''} (recipes: {', '.join(RECIPES)})")
    return RECIPES[name].with_overrides(**overrides)
