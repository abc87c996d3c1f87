"""Empty batches: give a correctly shaped empty result without running kernels on batch 0.

With TensorFlow's oneDNN kernels on (TensorFlow's default on x86 CPUs), a convolution over a batch
of 0 returns a tensor of the wrong shape (the input's), so every later layer fails or, worse,
computes on garbage. The cure here does not depend on oneDNN being off and costs nothing on the
normal path: when the batch dimension is statically 0 (eager calls, or traced with a known batch
of 0) the computation runs on one zero sample instead and the result is sliced back to 0 rows.
A dynamic batch (``None`` while tracing) is not looked at here: graph entry points with a dynamic
batch (the serving signatures) guard it themselves with a conditional.
"""

from __future__ import annotations

from keras import ops, tree


def is_empty_batch(inputs) -> bool:
    """True when ``inputs`` (or the first tensor of a structure) has a static batch size of 0."""
    first = tree.flatten(inputs)[0]
    shape = getattr(first, "shape", None)
    return shape is not None and len(shape) > 0 and shape[0] == 0


def call_on_empty_batch(fn, inputs):
    """Run ``fn`` on one all-zero sample shaped like ``inputs`` and return its outputs with 0 rows.

    The outputs have the shapes and dtypes ``fn`` gives for a real batch, with batch size 0.
    """
    one = tree.map_structure(lambda x: ops.zeros((1,) + tuple(x.shape[1:]), dtype=x.dtype), inputs)
    return tree.map_structure(lambda y: y[:0], fn(one))


class EmptyBatchSafeModel:
    """Mixin for Functional ``keras.Model`` subclasses: a static batch of 0 gives empty outputs.

    Put it before ``keras.Model`` in the bases (``class M(EmptyBatchSafeModel, keras.Model)``).
    """

    def call(self, inputs, training=None, mask=None):
        """Run the graph; a batch of 0 runs one zero sample and keeps 0 rows (see the module docs)."""
        if is_empty_batch(inputs):  # oneDNN convolutions return a wrong shape for batch 0
            parent = super()
            return call_on_empty_batch(lambda x: parent.call(x, training=training, mask=mask), inputs)
        return super().call(inputs, training=training, mask=mask)
