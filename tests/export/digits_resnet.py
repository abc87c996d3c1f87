"""A small resnet20_cifar trained on 8x8 digits (their native size), shared by the LiteRT and OpenVINO INT8 tests.

Trained once per process (``functools.cache``): one basic block per stage, widths 8/16/32, 3 epochs,
about 10 s on two cores. Held-out accuracy is checked so an INT8 agreement figure means something.
Training is XLA-compiled: on this machine (TF 2.21, oneDNN, AMX Xeon) the same fit without XLA
aborted with "double free or corruption" inside the TensorFlow runtime.
"""

import functools

import keras

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
    model.fit(x_train, y_train, batch_size=32, epochs=4, verbose=0)
    accuracy = model.evaluate(x_val, y_val, verbose=0)[1]
    return model, accuracy
