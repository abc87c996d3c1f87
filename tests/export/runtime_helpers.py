"""Helpers shared by the export tests.

`digits_resnet20`: a small resnet20_cifar trained on 8x8 digits (their native size) for the INT8 tests.

Trained once per process (``functools.cache``): one basic block per stage, widths 8/16/32, 3 epochs,
about 20-30 s on two shared cores. Held-out accuracy is checked so an INT8 agreement figure means something.
Training is XLA-compiled: on this machine (TF 2.21, oneDNN on, AMX Xeon) the same fit without XLA
aborted with heap corruption ("double free or corruption") at 16x16 inputs; it ran with oneDNN off
(TF_ENABLE_ONEDNN_OPTS=0) and with full batches only, so the partial last batch (1,437 = 44 x 32 + 29)
under oneDNN is the trigger.
"""

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import tensorflow as tf

from keras_residual import ResNet
from keras_residual.datasets import load_digits_arrays

IMAGE_SIZE = 8


@functools.cache
def digits_resnet20():
    """Return ``(model, validation accuracy)``; the model takes 8x8x3 raw 0..255 pixels."""
    keras.utils.set_random_seed(1)
    x_train, y_train, x_val, y_val, _ = load_digits_arrays(image_size=IMAGE_SIZE)
    model = ResNet.from_preset(
        "resnet20_cifar",
        stage_blocks=(1, 1, 1),
        stage_widths=(8, 16, 32),
        stem_width=8,
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        num_classes=10,
        preprocessing="unit",
    )
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True
    )
    model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
    accuracy = model.evaluate(x_val, y_val, verbose=0)[1]
    return model, accuracy


class CumulativeProduct(keras.layers.Layer):
    """A layer whose op (``tf.math.cumprod``) has no builtin LiteRT kernel nor OpenVINO conversion."""

    def call(self, x):
        return tf.math.cumprod(x, axis=-1)


def unsupported_model():
    """A conv, then the ``running_product`` layer neither runtime can run, then pooling."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = CumulativeProduct(name="running_product")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


_HANGING_EXPORT = """
import sys, time
from pathlib import Path
import keras
from keras_residual.export import export, runtime_check

def hang(report, *args):
    Path(sys.argv[2]).write_text("verifying")
    time.sleep(120)

runtime_check.verify = hang  # the file is written, not yet checked nor published
inputs = keras.Input((8, 8, 3))
x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
export(model, sys.argv[1], {fmt!r})
"""


def kill_mid_export(fmt: str, target: Path, marker: Path, inspect=None) -> None:
    """Run ``export(tiny model, target, fmt)`` in a child; SIGKILL it during verification.

    The child writes ``marker`` when it reaches verification and then sleeps; ``inspect()`` runs
    just before the kill, while the child is still mid-export.
    """
    code = textwrap.dedent(_HANGING_EXPORT.format(fmt=fmt))
    kill_at_marker(code, [str(target), str(marker)], marker, inspect)


def kill_at_marker(code: str, argv: list[str], marker: Path, inspect=None) -> None:
    """Run ``python -c code *argv`` in a child; once it has written ``marker``, call ``inspect()`` and SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, "the child exited before it wrote the marker"
            assert time.monotonic() < deadline, "the child never wrote the marker"
            time.sleep(0.2)
        if inspect is not None:
            inspect()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
