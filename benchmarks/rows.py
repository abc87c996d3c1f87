"""What a benchmark row is, the sizes of the full and quick suites, and the context the groups share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes and repetition counts of one suite mode."""

    image: int
    infer_batches: tuple[int, ...]
    train_batch: int
    onnx_batch: int
    serve_batches: tuple[int, ...]
    warmup: int
    reps_small_batch: int
    reps: int
    train_reps: int
    train_reps_bf16: int
    calibration_images: int
    matmul_n: int
    tiny: bool = False  # one block per stage (benchmarks/models.py): the smoke run's models


FULL = Sizes(
    image=224,
    infer_batches=(1, 16),
    train_batch=16,
    onnx_batch=16,
    serve_batches=(1, 32),
    warmup=2,
    reps_small_batch=10,
    reps=4,
    train_reps=3,
    train_reps_bf16=2,
    calibration_images=32,
    matmul_n=2048,
)
QUICK = dataclasses.replace(  # CI smoke: every code path once, tiny images and batches
    FULL,
    image=32,
    infer_batches=(2,),
    train_batch=2,
    onnx_batch=2,
    serve_batches=(1, 2),
    warmup=1,
    reps_small_batch=2,
    reps=2,
    train_reps=1,
    train_reps_bf16=1,
    calibration_images=4,
    matmul_n=256,
    tiny=True,
)


@dataclasses.dataclass
class Context:
    """Everything the benchmark groups share: sizes, a scratch folder, the models and the peak contender."""

    sizes: Sizes
    workdir: Path
    models: dict  # key -> keras.Model: "ours", "ours_v1", "anchor"
    model_info: dict  # key -> {"label", "params", "gmacs"}
    peak_fn: Callable[[], object]
    peak_gflop_per_call: float
    train_policies: tuple[str, ...] = ("float32", "mixed_bfloat16")

    def items(self, contenders: dict, batch: int) -> dict[str, float]:
        """Items per call for :func:`~benchmarks.timing.interleaved`: ``batch`` images, GFLOP for the peak."""
        return {name: (self.peak_gflop_per_call if name == "peak" else batch) for name in contenders}


def compare(
    row_id: str,
    group: str,
    title: str,
    stats: dict,
    ours: str,
    anchor: str,
    *,
    ours_label: str,
    anchor_label: str,
    unit: str = "img/s",
    target: float | None = None,
    note: str = "",
) -> dict:
    """One row: ours vs anchor medians (with min/max), their ratio and whether it meets the target.

    ``stats`` is the output of :func:`benchmarks.timing.interleaved`; ``ours`` and ``anchor`` name the
    contenders in it. When ``stats`` holds a ``"peak"`` contender (the matmul, in GFLOP/s), its median is
    kept as ``peak_gflops`` for the efficiency rows.
    """
    a, b = stats[ours], stats[anchor]
    ratio = a["median"] / b["median"]
    row = {
        "id": row_id,
        "group": group,
        "title": title,
        "unit": unit,
        "ours_label": ours_label,
        "anchor_label": anchor_label,
        "ours": _plain(a),
        "anchor": _plain(b),
        "ratio": ratio,
        "target": target,
        "met": None if target is None else bool(ratio >= target),
        "note": note,
        "status": "ok",
    }
    if "peak" in stats:
        row["peak_gflops"] = stats["peak"]["median"]
    return row


def add_gflops(
    row: dict, ctx: Context, flops_per_mac: int, ours: str = "ours", anchor: str = "anchor"
) -> dict:
    """Attach achieved GFLOP/s (images/s x ``flops_per_mac`` x GMACs of the model) for ours and the anchor."""
    row["ours_gflops"] = flops_per_mac * ctx.model_info[ours]["gmacs"] * row["ours"]["median"]
    if anchor:
        row["anchor_gflops"] = flops_per_mac * ctx.model_info[anchor]["gmacs"] * row["anchor"]["median"]
    return row


def failed(row_id: str, group: str, title: str, error: BaseException | str) -> dict:
    """A row whose measurement could not run (the error is recorded instead of numbers)."""
    message = (
        error if isinstance(error, str) else f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
    )
    return {"id": row_id, "group": group, "title": title, "status": f"error: {message}"}


def _plain(stat: dict) -> dict:
    return {k: stat[k] for k in ("median", "min", "max", "n")}


EFFICIENCY_GROUP = "5. Achieved GFLOP/s vs the FP32 matmul peak"


def efficiency_rows(rows: list[dict]) -> list[dict]:
    """Row 5: for every row that knows our achieved GFLOP/s and the peak measured in its own rounds, the share."""
    out = []
    for index, row in enumerate(r for r in rows if r.get("ours_gflops") and r.get("peak_gflops")):
        share = row["ours_gflops"] / row["peak_gflops"]
        out.append(
            {
                "id": f"5{'abcdefghij'[index]}",
                "group": EFFICIENCY_GROUP,
                "title": f"{row['group'].split('. ', 1)[1]}: {row['title']} (from row {row['id']})",
                "unit": "GFLOP/s",
                "source_row": row["id"],
                "ours_label": row["ours_label"],
                "achieved_gflops": row["ours_gflops"],
                "anchor_gflops": row.get("anchor_gflops"),
                "peak_gflops": row["peak_gflops"],
                "ratio": share,
                "target": None,  # the one efficiency target (ONNX Runtime float32 >= 85%) is row 2b
                "met": None,
                "status": "ok",
            }
        )
    return out
