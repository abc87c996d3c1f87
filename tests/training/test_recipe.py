"""Recipe: schedule, optimizer, weight-decay exclusions, loss, augmentation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_residual.training.augment import cutmix, make_augmenter, mixup, random_flip, random_resized_crop
from keras_residual.training.pipeline import recipe_augmenter
from keras_residual.training.recipe import (
    REFERENCE_BATCH_SIZE,
    Recipe,
    WarmupCosineDecay,
    build_loss,
    build_optimizer,
    build_schedule,
)
from tests.training._tiny import tiny_classifier


def test_warmup_then_cosine():
    schedule = WarmupCosineDecay(peak_lr=0.2, total_steps=110, warmup_steps=10)
    values = np.array([float(schedule(s)) for s in range(111)])
    np.testing.assert_allclose(values[:10], 0.2 * np.arange(1, 11) / 10, rtol=1e-6)
    assert values[10] == pytest.approx(0.2)
    assert values[60] == pytest.approx(0.1, rel=1e-5)
    assert values[110] == pytest.approx(0.0, abs=1e-7)
    assert np.all(np.diff(values[10:]) <= 1e-7)  # never rises after the warmup
    restored = WarmupCosineDecay.from_config(schedule.get_config())
    assert float(restored(37)) == pytest.approx(float(schedule(37)))


def test_build_schedule_scales_lr_and_caps_warmup():
    recipe = Recipe(base_lr=0.4, warmup_epochs=5)
    schedule = build_schedule(recipe, global_batch_size=64, steps_per_epoch=23, epochs=6)
    assert schedule.peak_lr == pytest.approx(0.4 * 64 / REFERENCE_BATCH_SIZE)
    assert schedule.total_steps == 138 and schedule.warmup_steps == 13  # capped at 10% of the run
    assert build_schedule(Recipe(lr=0.3), 1024, 10, 10).peak_lr == pytest.approx(0.3)


def test_weight_decay_skips_batchnorm_and_bias():
    model = tiny_classifier((8, 8, 3), 3)
    optimizer = build_optimizer(Recipe(weight_decay=0.1), model, schedule=0.5)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    zeros = [tf.zeros_like(v) for v in model.trainable_variables]
    optimizer.apply(zeros, model.trainable_variables)  # only weight decay moves anything
    for variable in model.trainable_variables:
        changed = not np.allclose(variable.numpy(), before[variable.path])
        if len(variable.shape) >= 2:
            assert changed, f"{variable.path} should decay"
        elif np.any(before[variable.path] != 0):
            assert not changed, f"{variable.path} must not decay"


def test_adamw_and_ema():
    model = tiny_classifier((8, 8, 3), 3)
    optimizer = build_optimizer(Recipe(optimizer="adamw", ema_decay=0.99), model, schedule=1e-3)
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.use_ema
    assert build_loss(Recipe(label_smoothing=0.2)).label_smoothing == 0.2


@pytest.mark.parametrize(
    "field,value",
    [
        ("optimizer", "rmsprop"),
        ("base_lr", 0),
        ("momentum", 1.0),
        ("label_smoothing", -0.1),
        ("flip", "yes"),
        ("ema_decay", 1.0),
        ("random_resized_crop", 0.0),
        ("norm_momentum", True),
    ],
)
def test_recipe_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        Recipe(**{field: value})


def test_augmentations_keep_shapes_ranges_and_label_mass():
    keras.utils.set_random_seed(1)
    images = tf.random.uniform((8, 16, 16, 3), 0, 255)
    labels = tf.one_hot(tf.range(8) % 4, 4)
    cropped = random_resized_crop(images, 0.3)
    assert cropped.shape == images.shape
    assert float(tf.reduce_min(cropped)) >= 0 and float(tf.reduce_max(cropped)) <= 255
    flipped = random_flip(images)
    per_image = [
        bool(tf.reduce_all(f == i)) or bool(tf.reduce_all(f == i[:, ::-1]))
        for f, i in zip(flipped, images, strict=True)
    ]
    assert all(per_image)
    for fn in (mixup, cutmix):
        mixed_images, mixed_labels = fn(images, labels)
        assert mixed_images.shape == images.shape
        np.testing.assert_allclose(tf.reduce_sum(mixed_labels, -1).numpy(), 1.0, rtol=1e-5)
    assert make_augmenter() is None
    assert recipe_augmenter(Recipe(random_resized_crop=None, flip="auto"), mirror_symmetric=False) is None
    assert recipe_augmenter(Recipe(random_resized_crop=None, flip="auto"), mirror_symmetric=True) is not None


def test_a_saved_optimizer_with_the_schedule_reloads_after_register_serializables(tmp_path):
    """A model.keras from train() names WarmupCosineDecay in its optimizer; a fresh process that only
    imports keras_residual (not the training stack) must load it, optimizer included."""
    import subprocess
    import sys

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(WarmupCosineDecay(0.1, total_steps=10, warmup_steps=2)), loss="mse")
    model.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0)
    model.save(tmp_path / "model.keras")
    code = (
        "import sys, keras, keras_residual; keras_residual.register_serializables();"
        "m = keras.saving.load_model(sys.argv[1]);"
        "assert 'keras_residual.training' not in sys.modules;"
        "lr = keras.saving.serialize_keras_object(m.optimizer.get_config()['learning_rate']);"
        "print(lr['class_name'], lr['config']['warmup_steps'])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.keras")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["WarmupCosineDecay", "2"]
