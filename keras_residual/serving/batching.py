"""Tune TF Serving's batching parameters by measuring the exported signature on this machine.

TF Serving merges concurrent requests into batches (``--enable_batching``) following a
``BatchingParameters`` text proto. Its four knobs trade latency for throughput, and the right values
depend on the model and the machine (tensorflow/serving #344, #1312). :func:`tune_batching` measures
instead of guessing:

1. It loads the SavedModel with the TF1 session loader (``tf.compat.v1.saved_model.loader.load``),
   as TF Serving does, and runs the signature at batch sizes 1, 2, 4, ... up to ``max_batch``,
   interleaved (one call of every size per round, the order reversed each round) so a busy machine
   slows every size alike.
2. :func:`choose_parameters` picks, from that recorded curve alone, the batch size with the highest
   throughput whose latency fits the target: a request waits at most ``batch_timeout_micros`` for its
   batch to fill, then its batch runs, so ``timeout + p99(batch) <= p99_ms``. Sizes within 5% of the best
   throughput count as equal and the smallest of them wins (same throughput, lower latency). The timeout
   is the batch's median run time (waiting longer than one batch takes cannot raise throughput while a
   batch runs) capped by the latency left in the budget. ``num_batch_threads`` is the number of cores
   only if running that many batches at once was measured at least 10% faster within the target, else 1
   (one batch already uses every core through TensorFlow's intra-op pool). ``max_enqueued_batches`` holds
   only as many batches as finish within the target.
3. It writes ``batching_parameters.txt`` (the measured curve as comments) and ``batching_curve.json``
   (the raw latencies, the machine and the choice) atomically, so the choice can be replayed and checked.

Example:
    ```python
    # skip-test: measures a real export for minutes
    from keras_residual.serving.batching import tune_batching

    result = tune_batching("exports/digits", "serving/batching_parameters.txt", p99_ms=50)
    print(result.parameters["max_batch_size"], result.parameters["batch_timeout_micros"])
    ```
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from keras_residual._atomic import atomic_path, write_text
from keras_residual._validation import check_int, check_positive_float
from keras_residual.contract import SIGNATURE_IMAGES

CURVE_JSON = "batching_curve.json"
"""Name of the measurement record written beside the parameters file."""

EQUAL_THROUGHPUT = 0.95
"""Batch sizes within this fraction of the best feasible throughput count as equally fast."""

THREADS_GAIN = 1.10
"""Concurrent batches must be at least this much faster than one at a time to get more batch threads."""


def find_saved_model(export_dir: str | os.PathLike) -> Path:
    """The SavedModel folder of ``export_dir``: itself if it holds ``saved_model.pb``, else its highest
    integer-named version (the one TF Serving's default ``latest`` policy serves).

    Raises:
        ValueError: neither ``export_dir/saved_model.pb`` nor ``export_dir/<int>/saved_model.pb`` exists.
    """
    path = Path(export_dir)
    if (path / "saved_model.pb").is_file():
        return path
    versions = [p for p in path.glob("*") if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    if not versions:
        raise ValueError(
            "`export_dir` must be a SavedModel folder or a TF Serving base path with integer versions; "
            f"received export_dir={str(export_dir)!r}"
        )
    return max(versions, key=lambda p: int(p.name))


def batch_sizes(max_batch: int) -> list[int]:
    """The sizes the tuner measures: powers of two below ``max_batch``, then ``max_batch``.

    Example:
        >>> batch_sizes(48)
        [1, 2, 4, 8, 16, 32, 48]
    """
    check_int("max_batch", max_batch)
    sizes, size = [], 1
    while size < max_batch:
        sizes.append(size)
        size *= 2
    return [*sizes, max_batch]


class SessionRunner:
    """One signature of a SavedModel loaded by the TF1 session loader, runnable at any batch size."""

    def __init__(self, saved_model_dir: str | os.PathLike, signature: str = SIGNATURE_IMAGES):
        import tensorflow as tf

        self._graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self._graph)
        with self._graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], str(saved_model_dir))
        if signature not in meta.signature_def:
            raise ValueError(
                f"`signature` must be one of {sorted(meta.signature_def)}; received signature={signature!r}"
            )
        sig = meta.signature_def[signature]
        if len(sig.inputs) != 1:
            raise ValueError(
                f"`signature` must take one input tensor; received signature={signature!r} "
                f"with inputs {sorted(sig.inputs)}"
            )
        ((self.input_key, spec),) = sig.inputs.items()
        dtype = tf.dtypes.as_dtype(spec.dtype)
        dims = [d.size for d in spec.tensor_shape.dim]
        if not dtype.is_floating and not dtype.is_integer or any(d < 0 for d in dims[1:]):
            raise ValueError(
                "`signature` must take a numeric tensor with a fixed shape after the batch dimension; "
                f"received signature={signature!r} with input {self.input_key} {dtype.name} {dims}"
            )
        self.input_name = spec.name
        self.item_shape = tuple(dims[1:])
        self.dtype = dtype.as_numpy_dtype
        self.output_keys = sorted(sig.outputs)
        self.fetches = [sig.outputs[key].name for key in self.output_keys]

    def caller(self, batch: int, seed: int = 0):
        """A zero-argument callable running the signature once on ``batch`` random 0..255 inputs."""
        data = np.random.default_rng(seed).uniform(0, 255, (batch, *self.item_shape)).astype(self.dtype)
        feed = {self.input_name: data}
        return lambda: self.session.run(self.fetches, feed)

    def close(self) -> None:
        """Release the session."""
        self.session.close()


def summarize_latencies(latencies_ms: list[float], batch: int) -> dict:
    """p50 / p99 / mean of per-call latencies and the throughput ``batch / p50``.

    Example:
        >>> summarize_latencies([10.0, 10.0, 20.0], 8)["img_per_s"]
        800.0
    """
    values = np.asarray(latencies_ms, dtype=float)
    p50 = float(np.percentile(values, 50))
    return {
        "batch": batch,
        "n": int(values.size),
        "p50_ms": p50,
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": float(values.mean()),
        "img_per_s": 1000.0 * batch / p50,
    }


def measure_curve(runner: SessionRunner, sizes: list[int], *, reps: int, warmup: int) -> list[dict]:
    """Time every size ``reps`` times in interleaved rounds after ``warmup`` untimed calls each.

    Returns:
        One dict per size: :func:`summarize_latencies` plus the raw ``latencies_ms``.
    """
    callers = {size: runner.caller(size) for size in sizes}
    for call in callers.values():
        for _ in range(warmup):
            call()
    latencies: dict[int, list[float]] = {size: [] for size in sizes}
    for rep in range(reps):
        for size in sizes if rep % 2 == 0 else sizes[::-1]:
            start = time.perf_counter()
            callers[size]()
            latencies[size].append(1000.0 * (time.perf_counter() - start))
    return [{**summarize_latencies(latencies[s], s), "latencies_ms": latencies[s]} for s in sizes]


def measure_concurrent(runner: SessionRunner, batch: int, threads: int, reps: int) -> dict:
    """Run ``threads`` batches of ``batch`` at once (``reps`` calls per thread), as TF Serving's batch
    threads would; the throughput is all images over the wall time."""
    callers = [runner.caller(batch, seed=i) for i in range(threads)]
    for call in callers:
        call()
    latencies: list[float] = []
    lock = threading.Lock()

    def work(call) -> None:
        own = []
        for _ in range(reps):
            start = time.perf_counter()
            call()
            own.append(1000.0 * (time.perf_counter() - start))
        with lock:
            latencies.extend(own)

    workers = [threading.Thread(target=work, args=(call,)) for call in callers]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    summary = summarize_latencies(latencies, batch)
    summary.update(threads=threads, img_per_s=batch * threads * reps / wall, latencies_ms=latencies)
    return summary


def choose_parameters(record: dict) -> dict:
    """The batching parameters for a measurement record (pure: replaying a record gives the same answer).

    Args:
        record: ``{"p99_target_ms", "curve": [points], "concurrent": point or None}`` as written by
            :func:`tune_batching` (``batching_curve.json``); points as :func:`summarize_latencies`.

    Returns:
        ``max_batch_size``, ``batch_timeout_micros``, ``max_enqueued_batches``, ``num_batch_threads``,
        ``allowed_batch_sizes``, plus ``expected_img_per_s`` and ``expected_p99_ms`` (the chosen point).

    Raises:
        ValueError: even batch 1 misses the target.
    """
    target = record["p99_target_ms"]
    curve = sorted(record["curve"], key=lambda p: p["batch"])
    feasible = [p for p in curve if p["p99_ms"] < target]
    if not feasible:
        raise ValueError(
            f"`p99_ms` must be above the measured batch-1 p99 latency ({curve[0]['p99_ms']:.2f} ms) on this "
            f"machine; received p99_ms={target}"
        )
    best = max(p["img_per_s"] for p in feasible)
    chosen = next(p for p in feasible if p["img_per_s"] >= EQUAL_THROUGHPUT * best)
    timeout_ms = min(chosen["p50_ms"], target - chosen["p99_ms"])
    threads, point = 1, chosen
    concurrent = record.get("concurrent")
    if (
        concurrent
        and concurrent["batch"] == chosen["batch"]
        and concurrent["img_per_s"] >= THREADS_GAIN * chosen["img_per_s"]
        and concurrent["p99_ms"] + timeout_ms <= target
    ):
        threads, point = concurrent["threads"], concurrent
    queue = max(1, int((target - timeout_ms) // max(point["p99_ms"], 1e-3)) * threads)
    return {
        "max_batch_size": chosen["batch"],
        "batch_timeout_micros": max(1, int(1000 * timeout_ms)),
        "max_enqueued_batches": queue,
        "num_batch_threads": threads,
        "allowed_batch_sizes": [p["batch"] for p in curve if p["batch"] <= chosen["batch"]],
        "expected_img_per_s": point["img_per_s"],
        "expected_p99_ms": point["p99_ms"] + timeout_ms,
    }


def format_table(record: dict, parameters: dict | None = None) -> str:
    """The measured curve as a text table (one line per batch size; the chosen one marked ``<-``)."""
    base = next(p for p in record["curve"] if p["batch"] == min(q["batch"] for q in record["curve"]))
    lines = [f"{'batch':>6} {'p50 ms':>9} {'p99 ms':>9} {'img/s':>10} {'vs batch 1':>10}  fits p99"]
    for p in sorted(record["curve"], key=lambda q: q["batch"]):
        mark = "  <- chosen" if parameters and p["batch"] == parameters["max_batch_size"] else ""
        fits = "yes" if p["p99_ms"] < record["p99_target_ms"] else "no"
        lines.append(
            f"{p['batch']:>6} {p['p50_ms']:>9.2f} {p['p99_ms']:>9.2f} {p['img_per_s']:>10.1f} "
            f"{p['img_per_s'] / base['img_per_s']:>9.2f}x  {fits}{mark}"
        )
    concurrent = record.get("concurrent")
    if concurrent:
        lines.append(
            f"{concurrent['threads']} concurrent batches of {concurrent['batch']}: p99 {concurrent['p99_ms']:.2f} ms, "
            f"{concurrent['img_per_s']:.1f} img/s"
        )
    return "\n".join(lines)


def render_parameters(record: dict, parameters: dict) -> str:
    """The ``BatchingParameters`` text proto, headed by comments with the machine and the measured curve."""
    machine = record["machine"]
    header = [
        "BatchingParameters (text proto) for tensorflow_model_server --enable_batching --batching_parameters_file.",
        f"Written by `keras-residual tune-batching` on {record['date']} for {record['saved_model']}",
        f"(signature {record['signature']}), p99 target {record['p99_target_ms']} ms.",
        f"Machine: {machine['cpu']['model']}, {machine['cpu']['cores']} cores, flags "
        f"{', '.join(machine['cpu']['flags'])}; load average {record['load_average']}.",
        f"Expected: {parameters['expected_img_per_s']:.1f} img/s, p99 <= {parameters['expected_p99_ms']:.1f} ms "
        "(timeout + measured p99 of the batch).",
        "Measured curve (TF1 session loader, interleaved rounds):",
        *format_table(record, parameters).splitlines(),
    ]
    body = [
        f"max_batch_size {{ value: {parameters['max_batch_size']} }}",
        f"batch_timeout_micros {{ value: {parameters['batch_timeout_micros']} }}",
        f"max_enqueued_batches {{ value: {parameters['max_enqueued_batches']} }}",
        f"num_batch_threads {{ value: {parameters['num_batch_threads']} }}",
        *(f"allowed_batch_sizes: {size}" for size in parameters["allowed_batch_sizes"]),
        "pad_variable_length_inputs: false",
    ]
    return "\n".join([*(f"# {line}".rstrip() for line in header), *body]) + "\n"


@dataclasses.dataclass
class TuningResult:
    """What :func:`tune_batching` measured, chose and wrote."""

    record: dict
    parameters: dict
    parameters_path: Path
    record_path: Path


def tune_batching(
    export_dir: str | os.PathLike,
    out: str | os.PathLike = "batching_parameters.txt",
    *,
    p99_ms: float = 50.0,
    max_batch: int = 128,
    signature: str = SIGNATURE_IMAGES,
    reps: int = 30,
    warmup: int = 2,
) -> TuningResult:
    """Measure ``export_dir``'s signature and write the batching parameters that fit ``p99_ms``.

    Args:
        export_dir: A SavedModel folder or a TF Serving base path (its highest version is measured).
        out: The ``batching_parameters.txt`` to write; ``batching_curve.json`` is written beside it.
        p99_ms: The latency target a request must meet (batch timeout plus the batch's p99).
        max_batch: The largest batch size measured.
        signature: The signature TF Serving will run (one numeric input with a fixed item shape).
        reps: Timed calls per batch size (the p99 of ``reps`` calls; more calls, steadier tails).
        warmup: Untimed calls per batch size first.

    Returns:
        A :class:`TuningResult`.

    Raises:
        ValueError: a bad argument, an export without that signature, or a target even batch 1 misses.
    """
    from keras_residual.hardware import describe

    p99_ms = check_positive_float("p99_ms", p99_ms)
    check_int("max_batch", max_batch)
    reps = check_int("reps", reps, minimum=2)
    warmup = check_int("warmup", warmup, minimum=0)
    saved_model = find_saved_model(export_dir)
    runner = SessionRunner(saved_model, signature)
    try:
        curve = measure_curve(runner, batch_sizes(max_batch), reps=reps, warmup=warmup)
        record = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "saved_model": str(saved_model),
            "signature": signature,
            "p99_target_ms": p99_ms,
            "machine": describe(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "curve": curve,
            "concurrent": None,
        }
        single = choose_parameters(record)
        cores = record["machine"]["cpu"]["cores"]
        if cores > 1:
            record["concurrent"] = measure_concurrent(runner, single["max_batch_size"], cores, reps)
    finally:
        runner.close()
    parameters = choose_parameters(record)
    record["parameters"] = parameters
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record_path = out.parent / CURVE_JSON
    write_text(record_path, json.dumps(record, indent=1) + "\n")
    write_text(out, render_parameters(record, parameters))
    return TuningResult(record, parameters, out, record_path)


def plot_curve(record: dict, path: str | os.PathLike) -> Path:
    """Draw throughput and p50/p99 latency against batch size, with the target and the choice (PNG).

    Needs matplotlib (``pip install matplotlib``).
    """
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = sorted(record["curve"], key=lambda p: p["batch"])
    sizes = [p["batch"] for p in curve]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(sizes, [p["img_per_s"] for p in curve], marker="o")
    left.set(xscale="log", xlabel="batch size", ylabel="images/s (batch / p50)", title="throughput")
    right.plot(sizes, [p["p50_ms"] for p in curve], marker="o", label="p50")
    right.plot(sizes, [p["p99_ms"] for p in curve], marker="o", label="p99")
    right.axhline(record["p99_target_ms"], color="red", linestyle=":", label="p99 target")
    right.set(xscale="log", yscale="log", xlabel="batch size", ylabel="ms per call", title="latency")
    chosen = record.get("parameters", {}).get("max_batch_size")
    for ax in (left, right):
        if chosen:
            ax.axvline(chosen, color="grey", linestyle="--", linewidth=1)
    right.legend(fontsize=8)
    fig.suptitle(
        f"{record['saved_model']} on {record['machine']['cpu']['model']} ({record['date']})", fontsize=9
    )
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
