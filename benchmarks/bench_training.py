"""Row 3: training-step images/s of our ResNet-50 vs keras.applications.ResNet50, float32 and mixed_bfloat16."""

from __future__ import annotations

import numpy as np

from benchmarks.bench_inference import images
from benchmarks.models import ANCHOR, OURS, build_anchor, build_ours
from benchmarks.rows import Context, add_gflops, compare, failed
from benchmarks.timing import interleaved
from keras_residual.hardware import detect_cpu, precision_note
from keras_residual.precision import compute_dtype

GROUP = "3. Training step (TensorFlow)"
TRAIN_FLOPS_PER_MAC = 6  # forward 2 FLOPs per MAC, backward about twice the forward


def train_step(model, x, y):
    """Compile ``model`` the same way for every contender (SGD momentum, sparse cross-entropy, Keras's default
    ``jit_compile="auto"``, which is plain tf.function on a CPU) and return a one-step callable."""
    import keras
    import tensorflow as tf

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    tx, ty = tf.constant(x), tf.constant(y)
    return lambda: model.train_on_batch(tx, ty)


def run(ctx: Context) -> list[dict]:
    """Rows 3a (float32) and 3b (mixed_bfloat16); fresh models are built under each policy."""
    import keras

    s = ctx.sizes
    batch = s.train_batch
    x = images(batch, s.image)
    y = np.random.default_rng(1).integers(0, 1000, batch).astype("int32")
    rows = []
    plan = (("3a", "float32", s.train_reps), ("3b", "mixed_bfloat16", s.train_reps_bf16))
    for row_id, policy, reps in (p for p in plan if p[1] in ctx.train_policies):
        title = f"{policy}, batch {batch}"
        try:
            keras.config.set_dtype_policy(policy)
            ours, anchor = build_ours(s.image, tiny=s.tiny), build_anchor(s.image, tiny=s.tiny)
            contenders = {
                "ours": train_step(ours, x, y),
                "anchor": train_step(anchor, x, y),
                "peak": ctx.peak_fn,
            }
            stats = interleaved(contenders, warmup=1, reps=reps, items=ctx.items(contenders, batch))
            row = compare(
                row_id,
                GROUP,
                title,
                stats,
                "ours",
                "anchor",
                ours_label=OURS,
                anchor_label=ANCHOR,
                target=1.0,
            )
            add_gflops(row, ctx, TRAIN_FLOPS_PER_MAC)
            if policy != "float32":
                row["note"] = precision_note(detect_cpu().flags, compute_dtype(policy))
            rows.append(row)
        except Exception as err:
            rows.append(failed(row_id, GROUP, title, err))
        finally:
            keras.config.set_dtype_policy("float32")
    return rows
