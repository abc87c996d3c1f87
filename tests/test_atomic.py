"""keras_residual._atomic: its crash guarantees, tested once for every writer that uses it."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_residual import _atomic
from keras_residual._atomic import (
    atomic_path,
    publish_dir,
    remove_stale_temporaries,
    staging_dir,
    temporary_name,
    write_bytes,
    write_text,
)


def test_write_replaces_whole_files(tmp_path):
    target = tmp_path / "config.json"
    write_text(target, "first")
    write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["config.json"]


def test_exception_mid_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_writer_that_writes_nothing_is_an_error_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(target):
            pass
    assert target.read_text() == "old"


def test_missing_parent_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_text(tmp_path / "missing" / "x.txt", "x")


_CHILD = textwrap.dedent(
    """
    import sys, time
    from keras_residual._atomic import atomic_path

    with atomic_path(sys.argv[1]) as tmp:
        with open(tmp, "w") as handle:
            handle.write("partial")
            handle.flush()
        print("writing", flush=True)
        time.sleep(60)
    """
)


def test_sigkill_mid_write_leaves_no_partial_file_and_the_stale_temporary_is_removed(tmp_path):
    target = tmp_path / "history.csv"
    target.write_text("epoch 1\n")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(target)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert target.read_text() == "epoch 1\n"  # the old file, whole
    leftovers = [p for p in tmp_path.iterdir() if p.name != "history.csv"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".tmp-history.csv-")
    assert remove_stale_temporaries(tmp_path) == leftovers
    assert os.listdir(tmp_path) == ["history.csv"]


def test_temporaries_of_live_processes_and_other_hosts_are_kept(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = tmp_path / temporary_name("a.txt")
        mine.write_text("this process")
        live = tmp_path / f".tmp-b.txt-{socket.gethostname()}-{sleeper.pid}-0123abcd.txt"
        live.write_text("a live writer")
        other_host = tmp_path / ".tmp-c.txt-some-other-host-1-0123abcd.txt"
        other_host.write_text("a writer elsewhere on a shared filesystem")
        dead_dir = tmp_path / f".old-d-{socket.gethostname()}-{_dead_pid()}-0123abcd"
        dead_dir.mkdir()
        (dead_dir / "saved_model.pb").write_text("x")
        unrelated = tmp_path / ".hidden"
        unrelated.write_text("not ours")
        assert remove_stale_temporaries(tmp_path) == [dead_dir]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [mine.name, live.name, other_host.name, unrelated.name]
        )
    finally:
        sleeper.kill()
        sleeper.wait(timeout=30)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def test_staging_dir_is_removed_when_building_fails(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with staging_dir(tmp_path / "1") as staging:
            (staging / "saved_model.pb").write_text("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_publish_dir_refuses_to_overwrite_unless_asked(tmp_path):
    target = _version_dir(tmp_path / "1", "old")
    with staging_dir(target) as staging:
        (staging / "saved_model.pb").write_text("new")
        with pytest.raises(FileExistsError, match="overwrite=True"):
            publish_dir(staging, target, overwrite=False)
    assert (target / "saved_model.pb").read_text() == "old"
    with staging_dir(target) as staging:
        (staging / "saved_model.pb").write_text("new")
        publish_dir(staging, target, overwrite=True)
    assert (target / "saved_model.pb").read_text() == "new"
    assert os.listdir(tmp_path) == ["1"]


def test_publish_dir_overwrite_restores_the_old_dir_when_the_rename_fails(tmp_path, monkeypatch):
    target = _version_dir(tmp_path / "1", "old")
    real_rename = os.rename

    def failing_rename(src, dst):
        if Path(src).name.startswith(_atomic.TMP_PREFIX):  # the staging dir onto the target
            raise OSError("simulated failure")
        real_rename(src, dst)

    with staging_dir(target) as staging:
        (staging / "saved_model.pb").write_text("new")
        monkeypatch.setattr(_atomic.os, "rename", failing_rename)
        with pytest.raises(OSError, match="simulated failure"):
            publish_dir(staging, target, overwrite=True)
        monkeypatch.setattr(_atomic.os, "rename", real_rename)
    assert (target / "saved_model.pb").read_text() == "old"
    assert os.listdir(tmp_path) == ["1"]


def _version_dir(path: Path, content: str) -> Path:
    path.mkdir()
    (path / "saved_model.pb").write_text(content)
    return path
