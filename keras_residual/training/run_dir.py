"""The run directory: outputs a run leaves behind, and the state it resumes from.

Layout of ``out``::

    model.keras         best checkpoint so far (highest val_accuracy), replaced atomically
    class_names.json    JSON list; exporters read it beside model.keras
    config.json         the resolved configuration of the run
    history.csv         one row per completed epoch
    metrics.json        written when the run finishes: val_accuracy / val_loss of model.keras, ...
    logs/               TensorBoard event files
    state/              resume state: state.json + epoch-<N>.weights.h5 (model and optimizer)

Every file is written to a hidden temporary name and renamed into place
(`keras_residual._atomic`), so a run killed at any moment (SIGKILL included) leaves either the
previous or the new version, never half a file; ``start`` removes the temporaries that killed
runs left behind. The state of epoch N is only referenced by ``state.json`` once its weights file
is complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time

import keras

from keras_residual._atomic import atomic_path, remove_stale_temporaries, write_text
from keras_residual._validation import check_choice

RESUME_MODES = ("auto", "yes", "no")
"""``resume="auto"``: resume an unfinished run with the same config, start fresh otherwise;
``"yes"``: there must be a run to resume; ``"no"``: start fresh, replacing what ``out`` holds."""

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time")


def _write_json(path: str, value) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


class RunDirectory:
    """Reads and writes a run directory (see the module docstring for the layout).

    Args:
        out: The directory (created if missing).
        config: JSON-ready dict describing the run; resuming requires the same config.
        is_chief: Only the chief writes outputs (model, history, metrics, logs); every worker
            writes its own resume state (``state/`` for the chief, ``state/worker-<i>/`` otherwise).
        worker_index: Index of this worker in a multi-worker run.

    Example:
        ```python
        from keras_residual.training.run_dir import RunDirectory

        run = RunDirectory("runs/example", config={"epochs": 2})
        print(run.start("auto"), run.initial_epoch)  # fresh 0
        ```
    """

    def __init__(self, out, config: dict, is_chief: bool = True, worker_index: int = 0):
        self.out = os.fspath(out)
        self.config = json.loads(json.dumps(config))  # normalise tuples and numbers like the file will
        self.is_chief = is_chief
        state_root = os.path.join(self.out, "state")
        self.state_dir = (
            state_root if worker_index == 0 else os.path.join(state_root, f"worker-{worker_index}")
        )
        self.history: list[dict] = []
        self.best: dict | None = None
        self.wall_time = 0.0
        self.initial_epoch = 0
        self._weights_file: str | None = None
        self.write_context = contextlib.nullcontext
        """Context around every model write (``data_parallel`` suspends its distribution there)."""
        self.keep_previous = False
        """Keep the previous epoch's state too, so :meth:`roll_back` can return to it (several processes)."""
        self._previous: dict | None = None

    # paths -------------------------------------------------------------------------------------
    def path(self, name: str) -> str:
        """Path of ``name`` inside the run directory."""
        return os.path.join(self.out, name)

    @property
    def _state_file(self) -> str:
        return os.path.join(self.state_dir, "state.json")

    # starting ----------------------------------------------------------------------------------
    def _read_state(self):
        if not os.path.isfile(self._state_file):
            return None
        with open(self._state_file) as f:
            return json.load(f)

    def start(self, resume: str = "auto") -> str:
        """Prepare the directory; return ``"fresh"``, ``"resumed"`` or ``"finished"``.

        ``"resumed"``: ``initial_epoch``, ``history``, ``best`` and ``wall_time`` come from the saved
        state and ``restore(model)`` loads the weights. ``"finished"``: the same run already completed.

        Raises:
            ValueError: ``resume`` is not one of ``RESUME_MODES``; ``resume="yes"`` with nothing to
                resume; or a saved run whose config differs (the message lists the differences).
        """
        check_choice("resume", resume, RESUME_MODES)
        for folder in (self.out, self.state_dir):  # what runs killed mid-write left behind
            remove_stale_temporaries(folder)
        state = self._read_state() if resume != "no" else None
        if state is None:
            if resume == "yes":
                raise ValueError(f"resume='yes' but {self.out!r} holds no saved run state to resume from")
            self._start_fresh()
            return "fresh"
        saved = state.get("config", {})
        if saved != self.config:
            keys = sorted(k for k in set(saved) | set(self.config) if saved.get(k) != self.config.get(k))
            diffs = "; ".join(f"{k}: saved {saved.get(k)!r}, now {self.config.get(k)!r}" for k in keys)
            raise ValueError(
                f"{self.out!r} holds a different run ({diffs}); use another output folder or resume='no' "
                "(--resume no) to replace it"
            )
        self.history = state["history"]
        self.best = state.get("best")
        self.wall_time = float(state.get("wall_time", 0.0))
        self.initial_epoch = int(state["epoch"])
        self._weights_file = state.get("weights")
        self._previous = state.get("previous")
        if state.get("finished"):
            return "finished"
        return "resumed"

    def _start_fresh(self):
        os.makedirs(self.state_dir, exist_ok=True)
        if os.path.isfile(self._state_file):
            os.remove(self._state_file)
        if self.is_chief:
            for name in ("metrics.json", "history.csv", "model.keras"):
                if os.path.isfile(self.path(name)):
                    os.remove(self.path(name))
            _write_json(self.path("config.json"), self.config)

    def restore(self, model: keras.Model) -> None:
        """Load the saved model and optimizer weights into ``model`` (compiled, optimizer built)."""
        if self._weights_file is None:
            return
        path = os.path.join(self.state_dir, self._weights_file)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(path)

    # recording ---------------------------------------------------------------------------------
    def save_state(self, model: keras.Model, epoch: int, logs: dict, epoch_time: float) -> None:
        """Record completed ``epoch`` (1-based count): weights + optimizer first, then ``state.json``."""
        previous = self._snapshot() if self.keep_previous else None
        row = {"epoch": epoch}
        row.update({k: float(v) for k, v in logs.items() if k in HISTORY_COLUMNS})
        row["epoch_time"] = float(epoch_time)
        self.history.append(row)
        self.wall_time += float(epoch_time)
        os.makedirs(self.state_dir, exist_ok=True)
        weights_file = f"epoch-{epoch}.weights.h5"
        with self.write_context():
            model.save_weights(os.path.join(self.state_dir, weights_file), overwrite=True)
        self._write_state(weights_file, epoch, finished=False, previous=previous)
        if self.is_chief:
            self._write_history()

    def _snapshot(self) -> dict:
        """What :meth:`roll_back` restores: the state as of the last completed epoch (0: none)."""
        epoch = self.history[-1]["epoch"] if self.history else 0
        return {"epoch": epoch, "weights": self._weights_file, "best": self.best, "wall_time": self.wall_time}

    @property
    def previous_epoch(self) -> int | None:
        """The epoch :meth:`roll_back` can return to besides ``initial_epoch`` (``None``: none kept)."""
        return None if self._previous is None else int(self._previous["epoch"])

    def roll_back(self, epoch: int) -> None:
        """Resume from ``epoch`` instead: ``initial_epoch`` itself, or the previous epoch kept.

        Processes that resume together can stand one epoch apart when one was killed between their
        saves; the ones ahead return to the common epoch.

        Raises:
            ValueError: Neither ``initial_epoch`` nor the kept previous epoch is ``epoch``.
        """
        if epoch == self.initial_epoch:
            return
        if self.previous_epoch != epoch:
            raise ValueError(
                f"{self.state_dir!r} holds epoch {self.initial_epoch} (and {self.previous_epoch}), not {epoch}"
            )
        previous, self._previous = self._previous, None
        self.initial_epoch = epoch
        self.history = [row for row in self.history if row["epoch"] <= epoch]
        self.best, self.wall_time = previous["best"], float(previous["wall_time"])
        self._write_state(previous["weights"], epoch, finished=False)

    def _write_state(self, weights_file, epoch, finished, previous=None):
        files_before = {self._weights_file, (self._previous or {}).get("weights")}
        if previous is not None or weights_file != self._weights_file:
            self._previous = previous  # a new epoch's state replaces the kept one (or drops it)
        state = {
            "config": self.config,
            "epoch": epoch,
            "weights": weights_file,
            "history": self.history,
            "best": self.best,
            "wall_time": self.wall_time,
            "finished": finished,
            "previous": self._previous,
        }
        _write_json(self._state_file, state)
        self._weights_file = weights_file
        for stale in files_before - {None, weights_file, (self._previous or {}).get("weights")}:
            if os.path.isfile(os.path.join(self.state_dir, stale)):
                os.remove(os.path.join(self.state_dir, stale))

    def _write_history(self):
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(self.history)
        write_text(self.path("history.csv"), buffer.getvalue())

    def maybe_save_best(self, model: keras.Model, epoch: int, logs: dict) -> bool:
        """Save ``model.keras`` if ``val_accuracy`` improved (ties keep the earlier epoch); call after ``save_state``."""
        accuracy = logs.get("val_accuracy")
        if accuracy is None:
            return False
        if self.best is not None and float(accuracy) <= self.best["val_accuracy"]:
            return False
        self.best = {
            "epoch": epoch,
            "val_accuracy": float(accuracy),
            "val_loss": float(logs.get("val_loss", "nan")),
        }
        if self.is_chief:
            with atomic_path(self.path("model.keras")) as tmp, self.write_context():
                model.save(tmp)
        if self._weights_file is not None:  # keep the best score in the resume state
            self._write_state(self._weights_file, epoch, finished=False)
        return True

    def write_class_names(self, class_names) -> None:
        """Write ``class_names.json`` (chief only)."""
        if self.is_chief:
            _write_json(self.path("class_names.json"), list(class_names))

    def finish(self, metrics: dict) -> dict:
        """Mark the run finished, drop the resume weights, and write ``metrics.json`` (chief)."""
        metrics = dict(metrics)
        if self.best is not None:
            metrics.update(
                val_accuracy=self.best["val_accuracy"],
                val_loss=self.best["val_loss"],
                best_epoch=self.best["epoch"],
            )
        metrics["epochs"] = len(self.history)
        metrics["wall_time"] = round(self.wall_time, 3)
        if self.history:
            last = self.history[-1]
            metrics["final_val_accuracy"] = last.get("val_accuracy")
            metrics["final_val_loss"] = last.get("val_loss")
        epoch = self.history[-1]["epoch"] if self.history else 0
        weights = self._weights_file
        self._write_state(None, epoch, finished=True)
        self._weights_file = None
        if weights and os.path.isfile(os.path.join(self.state_dir, weights)):
            os.remove(os.path.join(self.state_dir, weights))
        if self.is_chief:
            _write_json(self.path("metrics.json"), metrics)
        return metrics

    def read_metrics(self) -> dict:
        """The ``metrics.json`` of a finished run."""
        with open(self.path("metrics.json")) as f:
            return json.load(f)


class StateCallback(keras.callbacks.Callback):
    """Keras callback: after each epoch, save the resume state (and the history) to a ``RunDirectory``."""

    def __init__(self, run: RunDirectory):
        super().__init__()
        self.run = run
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs.setdefault("learning_rate", _current_lr(self.model))
        self.run.save_state(self.model, epoch + 1, logs, time.perf_counter() - self._start)


class BestCheckpointCallback(keras.callbacks.Callback):
    """Keras callback: save ``model.keras`` whenever ``val_accuracy`` improves."""

    def __init__(self, run: RunDirectory):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        self.run.maybe_save_best(self.model, epoch + 1, logs or {})


def _current_lr(model) -> float:
    optimizer = model.optimizer
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))
