"""What the TensorFlow-backed sub-commands share: a quiet TensorFlow start and loading a ``.keras`` file.

TensorFlow prints C++ log lines (oneDNN, CUDA, CPU features) to the process's stderr while it
imports and when it first looks for devices, before any log level set later can take effect, and
``TF_CPP_MIN_LOG_LEVEL`` does not silence the lines absl writes before it is initialised. So
unless ``--verbose`` is given, the import and the first device query run with file descriptor 2
pointed at ``/dev/null``; Python errors raised meanwhile still reach the user, because the
descriptor is restored before they propagate.
"""

from __future__ import annotations

import contextlib
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

TF_EXTRA = "pip install 'keras-residual[tf]'"


class CLIError(ValueError):
    """A user mistake the CLI reports as one line (exit code 2), never with a traceback."""


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def start_tensorflow(verbose: bool = False) -> None:
    """Import Keras (and TensorFlow when it is the backend) without C++ log noise unless ``verbose``.

    Raises:
        CLIError: TensorFlow or Keras is not installed (names the extra to install).
    """
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = contextlib.nullcontext() if verbose else _stderr_to_devnull()
    try:
        with quiet:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices("GPU")  # the CUDA probe logs on first use
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] in ("tensorflow", "keras"):
            raise CLIError(f"this command needs TensorFlow and Keras ({err.name} is missing): {TF_EXTRA}") from err
        raise


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path if it is an existing readable file; otherwise a CLIError naming it."""
    path = Path(path)
    if not path.exists():
        raise CLIError(f"{what} {str(path)!r}: no such file")
    if not path.is_file():
        raise CLIError(f"{what} {str(path)!r}: not a file")
    if not os.access(path, os.R_OK):
        raise CLIError(f"{what} {str(path)!r}: not readable (permission denied)")
    return path


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` if a file can be created there (missing folders are created by the writer)."""
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"{what} {str(path)!r}: is a directory, expected a file path")
    _check_creatable(path.parent, path, what)
    return path


def _check_creatable(folder: Path, path: Path, what: str) -> None:
    existing = folder if str(folder) else Path(".")
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise CLIError(f"{what} {str(path)!r}: {str(existing)!r} is not a writable directory")


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` if it is (or can be created as) a writable directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{what} {str(path)!r}: exists and is not a directory")
    _check_creatable(path, path, what)
    return path


def load_keras_model(path: str | os.PathLike, what: str = "MODEL"):
    """Load a ``.keras`` archive with the package's layers registered; clear one-line errors otherwise."""
    path = check_input_file(path, what)
    if not zipfile.is_zipfile(path):
        raise CLIError(f"{what} {str(path)!r}: not a Keras archive (.keras files are zip archives from model.save())")
    import keras

    import keras_residual

    keras_residual.register_serializables()
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as err:
        raise CLIError(f"{what} {str(path)!r}: could not be loaded as a Keras model: {err}") from err
