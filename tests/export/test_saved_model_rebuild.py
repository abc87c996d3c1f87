"""rebuild_with_policy: same architecture and weights, mixed policies replaced, head kept float32."""

import keras
import numpy as np
import pytest

from keras_residual.models.rebuild import rebuild_with_policy


def _tiny(policy: str = "float32", name: str = "tiny") -> keras.Model:
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((16, 16, 3), name="images")
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(8, 3, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        y = keras.layers.ReLU()(x)
        y = keras.layers.Conv2D(8, 3, padding="same")(y)
        x = keras.layers.Add()([x, y])
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(5, activation="softmax", dtype="float32", name="head")(x)
        model = keras.Model(inputs, outputs, name=name)
    finally:
        keras.config.set_dtype_policy("float32")
    # Non-trivial BN statistics so a lost moving mean/variance would show.
    bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn.moving_mean.assign(np.linspace(-0.2, 0.2, 8).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 1.5, 8).astype("float32"))
    return model


@keras.saving.register_keras_serializable(package="keras_residual_tests")
class TinyNet(keras.Model):
    """A Functional subclass whose config is its constructor arguments (like ResNet)."""

    def __init__(self, width=4, num_classes=3, **kwargs):
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(width, 3, padding="same", name="stem")(x)
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="head")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.width, self.num_classes = width, num_classes

    def get_config(self):
        return {"width": self.width, "num_classes": self.num_classes, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _images(n=4, size=16):
    return np.random.default_rng(0).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _compute_dtypes(model):
    return {layer.name: layer.compute_dtype for layer in model.layers if layer.name != "images"}


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_to_float32(policy):
    model = _tiny(policy)
    rebuilt = rebuild_with_policy(model)
    assert set(_compute_dtypes(rebuilt).values()) == {"float32"}
    assert all(v.dtype == "float32" for v in rebuilt.weights)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    for a, b in zip(model.weights, rebuilt.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    x = _images()
    want, got = model.predict(x, verbose=0), rebuilt.predict(x, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-2 if policy == "mixed_bfloat16" else 2e-3)
    # The original model is left as it was.
    assert model.layers[2].compute_dtype == policy.split("_")[1]


def test_float32_result_matches_a_float32_model_exactly():
    mixed, reference = _tiny("mixed_float16"), _tiny("float32", name="ref")
    reference.set_weights(mixed.get_weights())
    rebuilt = rebuild_with_policy(mixed)
    x = _images()
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-6)


def test_mixed_float16_to_bfloat16_keeps_head_float32():
    rebuilt = rebuild_with_policy(_tiny("mixed_float16"), compute_dtype="bfloat16")
    dtypes = _compute_dtypes(rebuilt)
    assert dtypes.pop("head") == "float32"
    assert set(dtypes.values()) == {"bfloat16"}
    assert all(v.dtype == "float32" for v in rebuilt.weights)
    assert rebuilt.predict(_images(), verbose=0).dtype == np.float32


def test_float32_model_to_bfloat16_keeps_output_layer_float32():
    rebuilt = rebuild_with_policy(_tiny("float32"), compute_dtype="bfloat16")
    dtypes = _compute_dtypes(rebuilt)
    assert dtypes.pop("head") == "float32"
    assert set(dtypes.values()) == {"bfloat16"}


def test_functional_subclass_round_trips():
    keras.config.set_dtype_policy("mixed_float16")
    model = TinyNet(width=6, num_classes=4)
    keras.config.set_dtype_policy("float32")
    assert model.get_layer("stem").compute_dtype == "float16"
    model.get_layer("bn").moving_mean.assign(np.full(6, 0.3, "float32"))
    rebuilt = rebuild_with_policy(model)
    assert isinstance(rebuilt, TinyNet) and rebuilt.width == 6
    assert rebuilt.get_layer("stem").compute_dtype == "float32"
    assert rebuilt.get_layer("head").compute_dtype == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rebuilt.get_layer("bn").moving_mean), 0.3)
    x = _images()
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-3)


def test_global_policy_restored_and_bad_dtype_rejected():
    keras.config.set_dtype_policy("mixed_float16")
    model = _tiny("mixed_float16")
    keras.config.set_dtype_policy("mixed_float16")
    rebuild_with_policy(model)
    assert keras.config.dtype_policy().name == "mixed_float16"
    with pytest.raises(ValueError, match="compute_dtype.*'float16'"):
        rebuild_with_policy(model, compute_dtype="float16")
    assert keras.config.dtype_policy().name == "mixed_float16"


@pytest.mark.parametrize(("name", "compute"), [("auto", "float32"), ("mixed_bfloat16", "bfloat16")])
def test_precision_vocabulary_names_are_accepted(name, compute):
    rebuilt = rebuild_with_policy(_tiny("mixed_float16"), compute_dtype=name)
    conv = next(layer for layer in rebuilt.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == compute
    assert keras.config.dtype_policy().name == "float32"
