"""The family conformance harness (keras-hub's `run_vision_backbone_test` is the model): one call checks a
registered variant end to end, so adding a family is its registry entries, their published counts in
`test_build.PUBLISHED`, and nothing else (`test_build.test_every_registered_variant_conforms` runs this over
the whole registry).

Checked: trainable parameters equal the published count and the independent derivation (`derive.py`),
non-trainable ones the derivation; the spec's estimate within 2%; every stage's output size as the spec
plans it; unique hierarchical layer names; the spec's JSON round trip. Variants small enough to be cheap
(`SMALL` parameters at most) also run forward under `mixed_bfloat16` (bfloat16 convolutions, float32
output) and round-trip through a `.keras` file with identical outputs.
"""

import keras
import numpy as np
from derive import derived_params

import zoo
from zoo.models.registry import spec_from_json
from zoo.models.summary import param_counts, stage_rows

SMALL = 5_000_000  # parameters: forward passes, a mixed-precision build and a .keras file stay cheap below this


def check_variant(name: str, model: keras.Model, published: int, tmp_path) -> None:
    spec = zoo.get_spec(name)
    counts = param_counts(model)
    assert counts["trainable"] == published, f"{name}: {counts['trainable']:,} trainable, published {published:,}"
    assert (counts["trainable"], counts["non_trainable"]) == derived_params(spec)
    assert abs(spec.approx_params() - published) <= 0.02 * published
    _check_stages(spec, model)
    _check_names(name, model)
    assert spec_from_json(spec.to_json()) == spec
    if published <= SMALL:
        _check_mixed_precision(spec)
        _check_keras_file(model, tmp_path / f"{name}.keras")


def _check_stages(spec, model: keras.Model) -> None:
    rows = {r["part"]: r["output_shape"] for r in stage_rows(model)}
    for part, height, width in spec.spatial_plan():
        assert rows[part][:2] == (height, width), part
    assert rows[f"stage{len(spec.depths)}"][2] == spec.stage_channels[-1]


def _check_names(name: str, model: keras.Model) -> None:
    assert model.name == name
    names = [layer.name for layer in model.layers]
    assert names[0] == "input" and len(names) == len(set(names))
    for layer_name in names[1:]:
        part = layer_name.split("_", 1)[0]
        assert part in {"stem", "post", "head"} or (part.startswith("stage") and part[5:].isdigit()), layer_name


def _images(spec, n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).random((n, *spec.input_shape)).astype("float32")


def _check_mixed_precision(spec) -> None:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = zoo.build(spec)
    finally:
        keras.config.set_dtype_policy(previous)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32" for layer in convs)
    out = model(_images(spec), training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.isfinite(keras.ops.convert_to_numpy(out)).all()


def _check_keras_file(model: keras.Model, path) -> None:
    x = _images(zoo.get_spec(model.name))
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x, training=False)),
                               keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-5)
