"""Versioned, atomic publication: next version, no overwrite by default, nothing visible after a crash."""

import textwrap
from pathlib import Path

import keras
import pytest

from keras_residual import _atomic
from keras_residual.export import export_saved_model, saved_model
from keras_residual.export.saved_model import next_version
from tests.export.runtime_helpers import kill_at_marker


def _tiny():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def _visible(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir() if not p.name.startswith("."))


def _hidden(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def model():
    return _tiny()


def test_next_version_counts_integer_directories_only(tmp_path, model):
    assert next_version(tmp_path / "missing") == 1
    for name in ("3", "10", ".tmp-99-host-1-abcdef01", "not-a-version"):
        (tmp_path / name).mkdir()
    (tmp_path / "42").write_text("a file, not a version")
    assert next_version(tmp_path) == 11
    assert export_saved_model(model, tmp_path, warmup=False).name == "11"
    assert export_saved_model(model, tmp_path, warmup=False).name == "12"


def test_existing_version_is_kept_unless_overwrite(tmp_path, model):
    first = export_saved_model(model, tmp_path, version=5, warmup=False)
    (first / "marker").write_text("first export")
    with pytest.raises(FileExistsError, match="version 5 already exists"):
        export_saved_model(model, tmp_path, version=5, warmup=False)
    assert (first / "marker").read_text() == "first export"
    again = export_saved_model(model, tmp_path, version=5, overwrite=True)
    assert again == first
    assert not (again / "marker").exists()
    assert (again / "saved_model.pb").is_file() and (again / "assets.extra").is_dir()
    assert _visible(tmp_path) == ["5"] and _hidden(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failure_mid_write_leaves_no_version(tmp_path, model, monkeypatch, error):
    def fail(*args, **kwargs):
        # saved_model.pb and variables are already written at this point: a half-finished export.
        staging = next(tmp_path.glob(".tmp-*"))
        assert (staging / "saved_model.pb").exists()
        raise error

    monkeypatch.setattr(saved_model, "_write_warmup", fail)
    with pytest.raises(type(error)):
        export_saved_model(model, tmp_path, version=1)
    assert _visible(tmp_path) == [] and _hidden(tmp_path) == []


def test_failed_overwrite_keeps_the_old_version(tmp_path, model, monkeypatch):
    old = export_saved_model(model, tmp_path, version=2, warmup=False)
    (old / "marker").write_text("old")
    monkeypatch.setattr(saved_model, "_write_warmup", lambda *a, **k: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError, match="boom"):
        export_saved_model(model, tmp_path, version=2, overwrite=True)
    assert (old / "marker").read_text() == "old"
    assert _visible(tmp_path) == ["2"] and _hidden(tmp_path) == []


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import keras
    from keras_residual.export import export_saved_model, saved_model

    def hang(version_dir, *args):
        Path(sys.argv[2]).write_text(str(version_dir))
        time.sleep(120)

    saved_model._write_warmup = hang
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    export_saved_model(model, sys.argv[1])
    """
)


def test_killed_export_leaves_no_version_and_is_cleaned_up(tmp_path, model):
    base, marker = tmp_path / "base", tmp_path / "marker"
    kill_at_marker(_CHILD, [str(base), str(marker)], marker)
    staging = Path(marker.read_text())
    assert (staging / "saved_model.pb").exists()  # killed mid-export, after the graph was written
    assert _visible(base) == []  # TF Serving polling base would see nothing
    assert _hidden(base) == [staging.name]
    # The next export removes the dead process's leftovers and takes version 1.
    assert export_saved_model(model, base, warmup=False).name == "1"
    assert _visible(base) == ["1"] and _hidden(base) == []


def test_only_dead_local_exports_are_cleaned(tmp_path, monkeypatch):
    monkeypatch.setattr(_atomic.socket, "gethostname", lambda: "node-a.example")
    dead = f".tmp-3-node-a.example-{2**22 + 12345}-0a1b2c3d"  # above the default pid_max
    alive = _atomic.temporary_name("4")  # this process, still exporting
    other_host = ".tmp-5-node-b.example-1-0a1b2c3d"  # may be running on another machine
    odd = ".tmp-unparseable"
    for name in (dead, alive, other_host, odd):
        (tmp_path / name).mkdir()
    _atomic.remove_stale_temporaries(tmp_path)
    assert _hidden(tmp_path) == sorted([alive, other_host, odd])
