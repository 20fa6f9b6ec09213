"""The one save -> load round trip every Keras model and layer of tfgrad is tested with
(tests/models/test_serialization.py).

    from support.roundtrip import assert_round_trip

    assert_round_trip(lambda: BPRMF(4, 12, 8), lambda model: model.item_vectors(), tmp_path)
"""

import inspect
import json
import os
from typing import Any, Callable, Optional

import keras
import numpy as np
import tensorflow as tf

# What Keras' own Layer.get_config adds to a subclass's constructor arguments.
KERAS_BASE_KEYS = frozenset({"name", "trainable", "dtype"})


def constructor_arguments(cls) -> set:
    """The named arguments `cls(...)` takes, following `*args` up to the parent's `__init__`
    (CBIR(*args, num_negatives, **kwargs) takes TowerBaseline's too)."""
    names = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
        names |= {p.name for p in parameters
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind == p.VAR_POSITIONAL for p in parameters):
            break
    return names


def _numpy(outputs):
    return tf.nest.map_structure(lambda value: np.asarray(value), outputs)


def _assert_same_outputs(actual, expected, what: str, rtol: float, atol: float):
    actual = _numpy(actual)
    tf.nest.assert_same_structure(actual, expected)
    for index, (a, e) in enumerate(zip(tf.nest.flatten(actual), tf.nest.flatten(expected))):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol,
                                   err_msg=f"{what}: output {index} differs")


def _build(model, input_shape):
    if input_shape is None:
        model.build()
    else:
        model.build(input_shape)


def assert_round_trip(make: Callable[[], Any], outputs: Callable[[Any], Any], directory,
                      *, input_shape: Optional[tuple] = None, perturb: bool = True,
                      rtol: float = 1e-6, atol: float = 1e-6):
    """Asserts that a model (or layer) survives get_config -> from_config and a .keras file.

    Args:
      make: () -> a fresh, unbuilt model or layer.
      outputs: model -> a nest of tensors / arrays to compare (item vectors, scores, a forward
        pass, ...); called on the original, the from_config clone and the loaded copy.
      directory: where to write "m.keras" (pytest's tmp_path).
      input_shape: passed to `build` (None: `build()` without arguments).
      perturb: add N(0, 0.1²) noise to every weight after building, so that zero- or
        constant-initialised weights are checked to load too.

    Checks: the config holds the constructor's arguments (beside Keras' name, trainable and
    dtype) and is JSON; `from_config(get_config())` has the same config and, given the
    original's weights, the same outputs; `keras.saving.save_model` ->
    `keras.saving.load_model` gives the same class, config, weights and outputs.
    Returns the loaded copy.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = make()
    _build(model, input_shape)
    if perturb:
        rng = np.random.default_rng(0)
        for weight in model.weights:
            weight.assign(weight.numpy() + rng.normal(0.0, 0.1, weight.shape).astype(
                weight.numpy().dtype))
    expected = _numpy(outputs(model))
    name = type(model).__name__

    config = model.get_config()
    assert set(config) - KERAS_BASE_KEYS == constructor_arguments(type(model)), name
    assert json.loads(json.dumps(config)) == config, f"{name}'s config is not JSON"
    clone = type(model).from_config(config)
    assert clone.get_config() == config, f"{name}: from_config(get_config()) changes the config"
    _build(clone, input_shape)
    clone.set_weights(model.get_weights())
    _assert_same_outputs(outputs(clone), expected, f"{name} from_config", rtol, atol)

    path = os.path.join(directory, "m.keras")
    keras.saving.save_model(model, path)  # model.save(path) for models; layers have no .save
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model), f"{name} loaded as {type(loaded).__name__}"
    assert loaded.get_config() == config, f"{name}: the loaded config differs"
    # Shapes, not paths: auto-named sublayers (Sequential's Dense) get new names when loaded.
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights], name
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy(),
                                      err_msg=f"{name}: weight {saved.path} differs")
    _assert_same_outputs(outputs(loaded), expected, f"{name} loaded", rtol, atol)
    return loaded
