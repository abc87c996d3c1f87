"""Worker script for the distributed and resume tests: train a tiny model, save its final weights.

Usage: python -m tests.training._worker OUT WEIGHTS_NPZ STRATEGY EPOCHS [--logical-cpus N] [--marker FILE]
TF_CONFIG (from the environment) configures multi-worker runs.
"""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("weights")
    parser.add_argument("strategy")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--marker", default=None, help="touch this file mid-way through epoch 2")
    parser.add_argument("--num-train", type=int, default=128)
    parser.add_argument("--num-val", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bn", action="store_true")
    parser.add_argument("--epochs-override", type=int, default=None, help="replaces EPOCHS")
    args = parser.parse_args(argv)
    if args.epochs_override:
        args.epochs = args.epochs_override

    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus
        )
    import numpy as np

    from keras_residual.datasets import synthetic_arrays
    from keras_residual.training import Recipe, train
    from tests.training._tiny import tiny_classifier, tiny_no_bn

    arrays = synthetic_arrays(image_size=16, num_classes=4, num_train=args.num_train, num_val=args.num_val)
    dataset = arrays  # arrays, not a tf.data pipeline: MultiWorkerMirroredStrategy must start first
    recipe = Recipe(random_resized_crop=None, flip=False, warmup_epochs=0.0)
    builder = tiny_classifier if args.bn else tiny_no_bn
    if args.marker:
        import keras

        marker = args.marker

        class Marker(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if self._epoch == 1 and batch == 2:
                    open(marker, "w").close()
                    import time

                    time.sleep(30)  # wait to be killed mid-epoch

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch = epoch

        import keras_residual.training.trainer as trainer

        original = trainer._fit

        def fit_with_marker(net, train_ds, val_ds, epochs, initial_epoch, callbacks, verbose, steps=None):
            return original(
                net, train_ds, val_ds, epochs, initial_epoch, [*callbacks, Marker()], verbose, steps
            )

        trainer._fit = fit_with_marker
    result = train(
        builder,
        dataset,
        out=args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        strategy=args.strategy,
        precision="float32",  # the tests compare weights within 1e-5 with other runs
        recipe=recipe,
        verbose=0,
    )
    weights = result.model.get_weights() if result.model is not None else []
    np.savez(args.weights, *weights)
    iterations = int(result.model.optimizer.iterations.numpy()) if result.model is not None else -1
    print(f"STATUS {result.status} REPLICAS {result.metrics.get('num_replicas', '')} ITERATIONS {iterations}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
