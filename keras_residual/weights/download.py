"""Download, verify and cache weight files; mirrors for air-gapped machines.

* The cache is ``$KERAS_RESIDUAL_CACHE``, by default ``$KERAS_HOME/keras_residual/weights``
  (``~/.keras/keras_residual/weights``). Files keep their published names.
* ``$KERAS_RESIDUAL_WEIGHTS_MIRROR`` (a base URL or a directory) replaces the publisher: each file
  is fetched by its file name from there.
* A file is downloaded (``keras.utils.get_file``, with its progress bar) or copied under a hidden
  temporary name in the cache directory, checked against the publisher's hash, and only then
  renamed to its final name (atomic on one filesystem). A killed download leaves at most a hidden
  temporary, which no load accepts and the next fetch removes; two processes fetching the same
  file each write their own temporary and the second rename replaces a file by an identical one.
* A file whose hash does not match is deleted and refused with both hashes in the message.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

from keras_residual import _atomic
from keras_residual.weights.registry import WeightSet

CACHE_ENV = "KERAS_RESIDUAL_CACHE"
"""Environment variable naming the weights cache directory."""

MIRROR_ENV = "KERAS_RESIDUAL_WEIGHTS_MIRROR"
"""Environment variable naming a mirror: a base URL or a directory holding the files by name."""

CONVERTER_VERSION = 1
"""Bumped when the conversion to Keras weights changes, so older converted files are not reused."""


class WeightsUnavailableError(OSError):
    """The weights are neither cached nor downloadable (no network, no mirror, missing file)."""


class IntegrityError(ValueError):
    """A downloaded file does not have the publisher's hash (it was deleted)."""


def cache_dir() -> Path:
    """The weights cache directory (``$KERAS_RESIDUAL_CACHE``, else ``$KERAS_HOME/keras_residual/weights``)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    keras_home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(keras_home).expanduser() / "keras_residual" / "weights"


def cached_path(entry: WeightSet, folder: str | os.PathLike | None = None) -> Path:
    """Where ``entry``'s downloaded file lives in the cache (it may not exist yet)."""
    return (Path(folder) if folder is not None else cache_dir()) / entry.file_name


def converted_path(entry: WeightSet) -> Path:
    """Where the Keras weights converted from ``entry`` are cached (beside the download).

    The name carries the preset, the set's name and the head of its hash, so a changed registry
    entry never reuses an old conversion.
    """
    digest = entry.file_hash[:16]
    return cache_dir() / f"{entry.preset}.{entry.name}-{digest}-c{CONVERTER_VERSION}.weights.h5"


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """The hex digest of a file (``"sha256"`` or ``"md5"``), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(entry: WeightSet, path: str | os.PathLike) -> None:
    """Check ``path`` against ``entry``'s hash as its publisher defines it; delete it on a mismatch.

    Raises:
        IntegrityError: the hash differs; the message names the expected and actual hash.
    """
    algorithm = "md5" if entry.hash_algorithm == "md5" else "sha256"
    actual = file_digest(path, algorithm)
    if entry.hash_algorithm == "sha256-prefix":
        ok = actual.startswith(entry.file_hash)
    else:
        ok = actual == entry.file_hash
    if not ok:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        expected = f"{entry.file_hash}..." if entry.hash_algorithm == "sha256-prefix" else entry.file_hash
        raise IntegrityError(
            f"{entry.qualified_name}: {entry.file_name} has {algorithm} {actual} but {expected} was expected; "
            "the file was deleted and nothing was cached."
        )


def source_url(entry: WeightSet) -> str:
    """Where ``entry`` is fetched from: the mirror (``$KERAS_RESIDUAL_WEIGHTS_MIRROR``) or the publisher."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return entry.url
    return mirror.rstrip("/") + "/" + entry.file_name


def _unavailable(entry: WeightSet, url: str, reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"cannot fetch {entry.qualified_name} from {url} ({reason}) and it is not in the cache "
        f"{cache_dir()}; set {MIRROR_ENV} to a mirror URL or directory, or run "
        f"`keras-residual weights download {entry.qualified_name}` where the network is reachable "
        "and copy the file into the cache"
    )


def _copy_local(entry: WeightSet, url: str, target: Path) -> None:
    parts = urlsplit(url)
    local = Path(parts.path if parts.scheme == "file" else url)
    if not local.is_file():
        raise _unavailable(entry, url, "no such file")
    shutil.copyfile(local, target)


def _download(entry: WeightSet, url: str, target: Path, progress: bool) -> None:
    from keras.utils import get_file  # heavy: only a real download needs Keras

    try:
        # The progress bar goes to stderr (or nowhere): stdout stays for results (`--json`).
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sys.stderr if progress else sink):
            get_file(fname=target.name, origin=url, cache_dir=str(target.parent), cache_subdir="")
    except Exception as err:  # get_file raises a bare Exception "URL fetch failure on URL: code -- reason"
        reason = str(err).splitlines()[0].split(" -- ", 1)[-1] if str(err) else type(err).__name__
        raise _unavailable(entry, url, reason) from None


def fetch(entry: WeightSet, folder: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """The verified local file of ``entry``: from the cache, else downloaded (or copied from the mirror).

    Args:
        entry: the weight set.
        folder: store the file here instead of the cache directory (``weights download --to``).
        progress: show Keras's download progress bar (on stderr).

    Returns:
        The path of the verified file (``<folder or cache>/<file name>``).

    Raises:
        WeightsUnavailableError: not cached and not fetchable; the one-line message names the
            URL, ``KERAS_RESIDUAL_WEIGHTS_MIRROR`` and ``keras-residual weights download``.
        IntegrityError: the fetched file has another hash (it was deleted).
    """
    final = cached_path(entry, folder)
    folder = final.parent
    if final.is_file():
        try:
            verify(entry, final)
            return final
        except IntegrityError:
            pass  # a corrupted cache entry (deleted by verify): fetch it again
    folder.mkdir(parents=True, exist_ok=True)
    _atomic.remove_stale_temporaries(folder)
    url = source_url(entry)
    with _atomic.atomic_path(final) as temporary:  # renamed onto `final` only once verified
        if urlsplit(url).scheme in ("http", "https", "ftp"):
            _download(entry, url, temporary, progress)
        else:
            _copy_local(entry, url, temporary)
        verify(entry, temporary)
    return final
