"""Data-parallel training on JAX with ``keras.distribution``: every local device, one process or many.

``strategy="data_parallel"`` trains with ``keras.distribution.DataParallel`` over every device of
every process. Keras's own ``fit`` runs the step; the model's variables are replicated and each
global batch is split along the batch axis, so BatchNorm statistics and the mean loss are those of
the whole global batch and one step equals the single-device step on the same global batch.

Several processes (one per machine, or one per GPU) are configured by the variables
``keras.distribution.initialize`` reads, parsed the same way:

* ``KERAS_DISTRIBUTION_JOB_ADDRESSES``: ``host:port`` of process 0 (the coordinator), or a
  comma-separated list of every process's address whose first entry is the coordinator;
* ``KERAS_DISTRIBUTION_NUM_PROCESSES``: how many processes form the job;
* ``KERAS_DISTRIBUTION_PROCESS_ID``: this process's index, ``0 .. NUM_PROCESSES - 1``.

This module calls ``jax.distributed.initialize`` with those values itself, because
``keras.distribution.initialize`` takes no timeout: a process whose peers never arrive would
otherwise wait JAX's 300 s and then abort with a C++ stack trace. Here it waits
``KERAS_RESIDUAL_DISTRIBUTION_TIMEOUT`` seconds (default 300), then prints one line and exits with
status 2 (JAX cannot recover a failed start inside the process, so nothing can be raised instead).
On CPUs the processes exchange gradients through gloo collectives.

Every process builds the same global batches (same data, same shuffle seed) and keeps its own
slice of each (``auto_shard_dataset=False``); process 0 alone writes the run directory's outputs
(``model.keras``, ``metrics.json``, ``history.csv``, logs), every process its own resume state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading

from keras_residual._validation import check_int, fail

ADDRESSES_VAR = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
NUM_PROCESSES_VAR = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID_VAR = "KERAS_DISTRIBUTION_PROCESS_ID"
TIMEOUT_VAR = "KERAS_RESIDUAL_DISTRIBUTION_TIMEOUT"
"""Seconds a process waits for the whole job to start (default ``DEFAULT_TIMEOUT``)."""

DEFAULT_TIMEOUT = 300.0
"""JAX's own default for ``jax.distributed.initialize(initialization_timeout=...)``."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The processes of a job, as the ``KERAS_DISTRIBUTION_*`` variables describe them.

    Attributes:
        coordinator: ``host:port`` of process 0 (``None`` for a single process).
        num_processes: Number of processes (1 without the variables).
        process_id: This process's index.
        timeout: Seconds to wait for every process to join.
    """

    coordinator: str | None
    num_processes: int
    process_id: int
    timeout: float

    @property
    def is_chief(self) -> bool:
        """Process 0 writes the outputs."""
        return self.process_id == 0


def _int_var(name: str, environ, minimum: int) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return check_int(name, int(raw), minimum=minimum)
    except ValueError:
        fail(name, f"an integer >= {minimum}", raw)
    return None  # unreachable: fail() raises


def _timeout(environ) -> float:
    raw = environ.get(TIMEOUT_VAR, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        fail(TIMEOUT_VAR, "a number of seconds > 0", raw)
    return value


def cluster_from_env(environ=None) -> Cluster:
    """Read and check the ``KERAS_DISTRIBUTION_*`` variables (and the timeout).

    Example:
        ```python
        from keras_residual.training.data_parallel import cluster_from_env

        env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
               "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
        print(cluster_from_env(env))  # Cluster(coordinator='10.0.0.1:1234', num_processes=2, process_id=1, ...)
        ```

    Raises:
        ValueError: A variable that is not a number, a process id outside ``[0, NUM_PROCESSES)``,
            several processes without a coordinator address, or an address list whose length is not
            the number of processes (each message names the variable).
    """
    environ = os.environ if environ is None else environ
    timeout = _timeout(environ)
    num = _int_var(NUM_PROCESSES_VAR, environ, minimum=1) or 1
    process_id = _int_var(PROCESS_ID_VAR, environ, minimum=0) or 0
    if process_id >= num:
        fail(PROCESS_ID_VAR, f"an integer in [0, {num - 1}] ({NUM_PROCESSES_VAR}={num})", process_id)
    addresses = [a.strip() for a in environ.get(ADDRESSES_VAR, "").split(",") if a.strip()]
    if num == 1:
        return Cluster(addresses[0] if addresses else None, 1, 0, timeout)
    if not addresses:
        fail(ADDRESSES_VAR, f"host:port of process 0 when {NUM_PROCESSES_VAR}={num}", "")
    if len(addresses) > 1 and len(addresses) != num:
        fail(
            ADDRESSES_VAR, f"one address, or {num} addresses ({NUM_PROCESSES_VAR}={num})", ",".join(addresses)
        )
    coordinator = addresses[0]
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        fail(ADDRESSES_VAR, "host:port addresses", coordinator)
    return Cluster(coordinator, num, process_id, timeout)


def num_processes_in_env() -> int:
    """Number of processes ``KERAS_DISTRIBUTION_NUM_PROCESSES`` asks for (1 when unset)."""
    return cluster_from_env().num_processes


def _exit_unjoined(cluster: Cluster) -> None:
    sys.stdout.flush()
    sys.stderr.write(
        f"keras-residual: error: process {cluster.process_id} of {cluster.num_processes} could not form the "
        f"job with coordinator {cluster.coordinator} within {cluster.timeout:g} s ({TIMEOUT_VAR}); check that "
        f"process 0 runs there and every process has {NUM_PROCESSES_VAR}={cluster.num_processes}\n"
    )
    sys.stderr.flush()
    os._exit(2)


def initialize(cluster: Cluster) -> None:
    """Join the job (several processes only): ``jax.distributed.initialize`` under a watchdog.

    Call it before any other JAX work in the process. On CPU it selects gloo collectives (the
    setting only affects CPU devices). If the job has not formed after ``cluster.timeout`` seconds,
    the process prints one line naming the coordinator and exits with status 2.
    """
    if cluster.num_processes == 1:
        return
    import jax

    if jax.distributed.is_initialized():
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    watchdog = threading.Timer(cluster.timeout, _exit_unjoined, args=(cluster,))
    watchdog.daemon = True
    watchdog.start()
    try:  # JAX's own deadline comes later: the watchdog speaks first, in one line
        jax.distributed.initialize(
            coordinator_address=cluster.coordinator,
            num_processes=cluster.num_processes,
            process_id=cluster.process_id,
            initialization_timeout=int(cluster.timeout) + 60,
        )
    finally:
        watchdog.cancel()


def local_device_count() -> int:
    """Devices of the default kind in this process (starts JAX's runtime: single-process use only)."""
    import jax

    return jax.local_device_count()


class DataParallelEngine:
    """``keras.distribution.DataParallel`` over every device of every process of a ``Cluster``.

    Plays the part a ``tf.distribute`` strategy plays in ``train``: ``scope()`` (build, compile and
    fit inside it), ``num_replicas_in_sync``, and the process's role. Create it with
    :func:`make_engine`.
    """

    def __init__(self, cluster: Cluster):
        import keras

        self.cluster = cluster
        devices = keras.distribution.list_devices()
        self.distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        self.num_replicas_in_sync = len(devices)

    def scope(self):
        """Context in which variables are created replicated and ``fit`` splits each batch."""
        return self.distribution.scope()

    @staticmethod
    @contextlib.contextmanager
    def outside():
        """Suspend the distribution while one process alone saves (``model.save`` on the chief).

        Under the distribution every new array is placed on every process's devices, which takes
        all processes; a file written by one of them must create its arrays locally.
        """
        import keras

        saved = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(saved)

    def check_batch_size(self, batch_size: int, num_train: int) -> int:
        """Return the steps per epoch (the last partial batch is dropped); check the global batch.

        Raises:
            ValueError: ``batch_size`` is not a multiple of the replicas, or exceeds the training set.
        """
        replicas = self.num_replicas_in_sync
        if batch_size % replicas:
            fail(
                "batch_size", f"a multiple of the {replicas} devices of strategy 'data_parallel'", batch_size
            )
        if num_train < batch_size:
            raise ValueError(f"{num_train} training examples are fewer than one global batch of {batch_size}")
        return num_train // batch_size

    def agree_on_start(self, run, finished: bool) -> None:
        """Make every process resume from the same epoch (a collective; several processes only).

        A process killed between the processes' saves of one epoch leaves them one epoch apart; the
        ones ahead return to the common epoch with the state they kept (``run.keep_previous``).

        Raises:
            ValueError: The processes' states cannot be brought to one epoch (the same on every
                process, so they all stop).
        """
        if self.cluster.num_processes == 1:
            return
        import numpy as np
        from jax.experimental import multihost_utils

        previous = run.previous_epoch
        mine = np.array([run.initial_epoch, int(finished), -1 if previous is None else previous], np.int64)
        every = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, 3)
        run.roll_back(common_epoch(every.tolist()))


def common_epoch(states) -> int:
    """The epoch every process can resume from, given each one's ``[epoch, finished, previous_epoch]``.

    Example:
        ```python
        from keras_residual.training.data_parallel import common_epoch

        print(common_epoch([[2, 0, 1], [1, 0, 0]]))  # 1: the first process returns to epoch 1
        ```

    Raises:
        ValueError: Some processes finished and others did not, or one cannot return to the
            earliest epoch.
    """
    epochs = [int(state[0]) for state in states]
    target = min(epochs)
    if len({int(state[1]) for state in states}) == 1 and len(set(epochs)) == 1:
        return target
    reachable = all(epoch == target or int(previous) == target for epoch, _, previous in states)
    if any(int(state[1]) for state in states) or not reachable:
        raise ValueError(
            f"processes hold resume state from epochs {epochs} that cannot be brought to one; remove the "
            "state folders (OUT/state/...) of the processes ahead, or start over with --resume no"
        )
    return target


def make_engine() -> DataParallelEngine:
    """Read the cluster from the environment, join it, and return the engine.

    Raises:
        ValueError: Bad ``KERAS_DISTRIBUTION_*`` variables, or a backend other than JAX.
    """
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(
            f"strategy 'data_parallel' needs the JAX backend (KERAS_BACKEND=jax); this process runs "
            f"{keras.backend.backend()!r}"
        )
    cluster = cluster_from_env()
    initialize(cluster)
    return DataParallelEngine(cluster)
