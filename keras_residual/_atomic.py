"""Atomic writes: a file or directory appears whole at its final path, or not at all.

Everything is first written under a hidden temporary name in the target's own directory (so the
final ``os.replace`` / ``os.rename`` stays on one filesystem and is atomic), flushed to disk, then
renamed into place. A failure or interrupt at any point (``KeyboardInterrupt`` included) removes
the temporary; a SIGKILL can leave a hidden temporary behind but never a partial file at the
target. Hidden names (a leading dot) keep TF Serving, which polls for integer-named version
directories, and globs such as ``*.onnx`` from picking up anything half-written.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


def temporary_name(final_name: str, prefix: str = TMP_PREFIX) -> str:
    """A hidden sibling name for ``final_name``: ``<prefix><name>-<host>-<pid>-<hex><suffix>``.

    The final suffix is kept (``model.keras`` -> ``.tmp-model.keras-host-12-ab12cd34.keras``)
    because some writers insist on it: ``keras.Model.save`` on ``.keras``, ``save_weights`` on the
    two suffixes ``.weights.h5``.
    """
    suffix = ".weights.h5" if final_name.endswith(".weights.h5") else "".join(Path(final_name).suffixes[-1:])
    return f"{prefix}{final_name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}"


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path`` atomically.

    Use it for writers that take a path (``model.save``, ``onnx.save``): write to the yielded
    path inside the ``with`` block. An existing file at ``path`` is replaced only once the new one
    is complete. The parent directory must exist (a clear ``FileNotFoundError`` otherwise).

    Example:
        ```python
        import pathlib, tempfile
        from keras_residual._atomic import atomic_path

        target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        with atomic_path(target) as tmp:
            tmp.write_text("done")
        assert target.read_text() == "done"
        ```
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the directory {str(path.parent)!r} for {str(path)!r} does not exist")
    tmp = path.parent / temporary_name(path.name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary {str(tmp)!r} for {str(path)!r}")
        if tmp.is_file():
            _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(path.parent)
    finally:
        if tmp.exists():
            _remove(tmp)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def staging_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden directory beside ``target`` to build a directory in; removed on any failure.

    The caller publishes it with :func:`publish_dir` inside the ``with`` block; whatever is left
    unpublished (an exception, an interrupt) is deleted on exit.
    """
    target = Path(target)
    staging = target.parent / temporary_name(target.name)
    staging.mkdir()
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def publish_dir(staging: Path, target: str | os.PathLike, overwrite: bool) -> None:
    """Rename a finished ``staging`` directory to ``target`` (atomic on one filesystem).

    With ``overwrite``, an existing ``target`` is first moved to a hidden name, then the new one
    renamed into place, then the old one deleted; if the second rename fails the old one is put
    back. Without it, an existing ``target`` raises ``FileExistsError``.
    """
    target = Path(target)
    if not target.exists():
        try:
            os.rename(staging, target)
            _fsync_path(target.parent)
            return
        except OSError as err:
            if not target.exists():
                raise
            if not overwrite:
                raise FileExistsError(f"{target} appeared while it was being written") from err
    if not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it")
    old = target.parent / temporary_name(target.name, OLD_PREFIX)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    _fsync_path(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete hidden temporaries in ``folder`` left by writers on this host whose process is gone.

    Only names made by :func:`temporary_name` count; entries of live processes (this one included)
    and of other hosts (a shared filesystem) are kept. Returns what was removed.
    """
    host, removed = socket.gethostname(), []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not entry.name.startswith((TMP_PREFIX, OLD_PREFIX)):
            continue
        pid = _owner_pid(entry.name, host)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        _remove(entry)
        removed.append(entry)
    return removed


def _owner_pid(name: str, host: str) -> int | None:
    match = re.search(rf"-{re.escape(host)}-(\d+)-[0-9a-f]{{8}}(\.[^.]*)?$", name)
    return int(match.group(1)) if match else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
