"""Distribution strategies: one device, many devices on one machine, or many machines.

Two engines, one per backend:

* ``"default"``: no distribution (one device); every backend.
* ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over every local GPU (or the visible devices),
  trained with Keras ``fit``; TensorFlow only.
* ``"multi_worker"``: ``tf.distribute.MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``,
  trained with the custom loop in ``keras_residual.training.multi_worker`` because Keras 3
  ``fit`` fails under this strategy (keras-team/keras#20585); TensorFlow only.
* ``"data_parallel"``: ``keras.distribution.DataParallel`` over every device of every process,
  configured by ``KERAS_DISTRIBUTION_*`` (``keras_residual.training.data_parallel``); JAX only.
* ``"auto"``: on TensorFlow, ``multi_worker`` when ``TF_CONFIG`` names more than one worker,
  ``mirrored`` with more than one local GPU; on JAX, ``data_parallel`` with more than one process
  or device; ``default`` otherwise (always on torch).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from keras_residual._validation import check_choice, fail
from keras_residual.training import data_parallel

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "data_parallel")
"""Values accepted by ``strategy=`` / ``--strategy``."""

BACKENDS = {
    "default": ("tensorflow", "jax", "torch"),
    "mirrored": ("tensorflow",),
    "multi_worker": ("tensorflow",),
    "data_parallel": ("jax",),
}
"""Keras backends each concrete strategy runs on."""


def tf_config() -> dict:
    """The parsed ``TF_CONFIG`` environment variable (``{}`` when unset).

    Raises:
        ValueError: ``TF_CONFIG`` is not valid JSON.
    """
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from None


def num_workers_in_tf_config() -> int:
    """Number of workers (chief included) that ``TF_CONFIG`` describes; 0 without ``TF_CONFIG``."""
    cluster = tf_config().get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _backend() -> str:
    import keras

    return keras.backend.backend()


def check_backend(strategy: str, backend: str) -> None:
    """Refuse, in one line, a concrete strategy the Keras ``backend`` cannot run.

    Raises:
        ValueError: e.g. ``mirrored`` on JAX, ``data_parallel`` on torch; the message names the
            backend(s) the strategy needs and what to use instead.
    """
    allowed = BACKENDS[strategy]
    if backend in allowed:
        return
    instead = {"tensorflow": "mirrored or multi_worker", "jax": "data_parallel", "torch": "default"}[backend]
    raise ValueError(
        f"strategy {strategy!r} runs on the {' or '.join(allowed)} backend (KERAS_BACKEND={allowed[0]}); "
        f"this process runs {backend}: use --strategy {instead} (or auto)"
    )


def resolve_strategy_name(strategy: str = "auto", backend: str | None = None) -> str:
    """Resolve ``"auto"`` to a concrete strategy name for the Keras backend; check any other value.

    Example:
        ```python
        from keras_residual.training.distributed import resolve_strategy_name

        print(resolve_strategy_name("auto"))  # "default" on one CPU without TF_CONFIG
        ```

    Raises:
        ValueError: An unknown name, a strategy the backend cannot run, or ``default`` while
            ``KERAS_DISTRIBUTION_NUM_PROCESSES`` asks for several processes.
    """
    check_choice("strategy", strategy, STRATEGIES)
    backend = backend or _backend()
    processes = data_parallel.num_processes_in_env() if backend == "jax" else 1
    if strategy == "auto":
        strategy = _auto(backend, processes)
    check_backend(strategy, backend)
    if strategy == "default" and processes > 1:
        raise ValueError(
            f"{data_parallel.NUM_PROCESSES_VAR}={processes} asks for several processes, but strategy 'default' "
            "trains each alone: use --strategy data_parallel (or auto)"
        )
    return strategy


def _auto(backend: str, processes: int) -> str:
    if backend == "jax":
        # Several processes must join before JAX starts: decide from the environment alone then.
        if processes > 1 or data_parallel.local_device_count() > 1:
            return "data_parallel"
        return "default"
    if backend != "tensorflow":
        return "default"
    if num_workers_in_tf_config() > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def make_strategy(name: str):
    """Create the ``tf.distribute`` strategy for a resolved ``name``.

    Create it before any other TensorFlow work in the process: ``MultiWorkerMirroredStrategy``
    must configure the runtime's collectives first.

    ``"data_parallel"`` returns a ``data_parallel.DataParallelEngine`` instead (joining the
    job of several processes first).

    Raises:
        ValueError: ``multi_worker`` without a ``TF_CONFIG`` that describes a cluster and this task.
    """
    if name == "data_parallel":
        return data_parallel.make_engine()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        config = tf_config()
        if not config.get("cluster") or "task" not in config:
            raise ValueError(
                "strategy 'multi_worker' needs TF_CONFIG with 'cluster' and 'task', e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:  # "Collective ops must be configured at program startup"
            raise ValueError(
                "strategy 'multi_worker' must start before any other TensorFlow work in the process "
                f"({err}); pass data as a name, path or arrays (not a prebuilt tf.data pipeline) and "
                "create nothing with TensorFlow before calling train()"
            ) from None
    fail("strategy", f"one of {list(STRATEGIES[1:])}", name)
    return None  # unreachable: fail() raises


def worker_role(strategy) -> tuple[bool, int]:
    """``(is_chief, worker_index)`` of this process: worker 0 (or the ``chief`` task) is the chief.

    Example:
        ```python
        import tensorflow as tf
        from keras_residual.training.distributed import worker_role

        print(worker_role(tf.distribute.get_strategy()))  # (True, 0)
        ```
    """
    if isinstance(strategy, data_parallel.DataParallelEngine):
        return strategy.cluster.is_chief, strategy.cluster.process_id
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    if task_type == "chief":
        return True, 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    index = task_id + (1 if has_chief else 0)
    return (task_type == "worker" and task_id == 0 and not has_chief), index
