"""Row 2: ONNX Runtime images/s on our export vs on keras.applications.ResNet50's own ONNX export, plus
float16 and INT8 variants of ours and the share of the measured FP32 peak that our float32 graph reaches."""

from __future__ import annotations

from benchmarks.bench_inference import images
from benchmarks.models import ANCHOR, OURS
from benchmarks.rows import Context, compare, failed
from benchmarks.timing import interleaved
from keras_residual.hardware import detect_cpu, precision_note

GROUP = "2. ONNX Runtime (CPU)"


def export_files(ctx: Context) -> dict[str, str]:
    """Write ours (float32 via ``export_onnx``, then float16 and static INT8 from it) and the anchor's export."""
    import onnx

    from keras_residual.export import export_onnx
    from keras_residual.export.images import digits_images
    from keras_residual.export.onnx_quantize import quantize_int8, to_float16

    size = ctx.sizes.image
    work = ctx.workdir / "onnx"
    work.mkdir(parents=True, exist_ok=True)
    paths = {name: str(work / f"{name}.onnx") for name in ("ours", "anchor", "ours_fp16", "ours_int8")}
    export_onnx(ctx.models["ours"], paths["ours"])  # verified against Keras on real images
    ctx.models["anchor"](images(1, size))  # Keras's ONNX export needs a model that has been called once
    ctx.models["anchor"].export(paths["anchor"], format="onnx", verbose=False)  # Keras's own exporter
    onnx.save(to_float16(onnx.load(paths["ours"])), paths["ours_fp16"])
    calibration, _ = digits_images(size, size, 3, train_count=ctx.sizes.calibration_images, held_out_count=0)
    quantize_int8(paths["ours"], paths["ours_int8"], "images", calibration)
    return paths


def session_call(path: str, x):
    """A zero-argument callable running one ONNX Runtime inference on ``x`` (default CPU session options)."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    return lambda: session.run(None, feed)


def run(ctx: Context) -> list[dict]:
    """Rows 2a-2d."""
    s = ctx.sizes
    batch = s.onnx_batch
    try:
        paths = export_files(ctx)
        x = images(batch, s.image)
        contenders = {name: session_call(path, x) for name, path in paths.items()}
        contenders["peak"] = ctx.peak_fn
        stats = interleaved(contenders, warmup=s.warmup, reps=s.reps, items=ctx.items(contenders, batch))
    except Exception as err:
        return [failed("2a", GROUP, f"float32, batch {batch}", err)]
    gmacs = ctx.model_info["ours"]["gmacs"]
    flags = detect_cpu().flags
    achieved = {k: (v * 2 * gmacs if k in ("median", "min", "max") else v) for k, v in stats["ours"].items()}
    peak_stats = {"achieved": achieved, "peak": stats["peak"]}
    rows = [
        compare(
            "2a",
            GROUP,
            f"float32, batch {batch}",
            stats,
            "ours",
            "anchor",
            ours_label=f"{OURS} (export_onnx)",
            anchor_label=f"{ANCHOR} (model.export onnx)",
            target=1.0,
        ),
        compare(
            "2b",
            GROUP,
            f"float32, batch {batch}: achieved GFLOP/s vs FP32 matmul peak",
            peak_stats,
            "achieved",
            "peak",
            ours_label=f"{OURS} (export_onnx)",
            anchor_label="FP32 matmul peak (same rounds)",
            unit="GFLOP/s",
            target=0.85,
            note=f"{2 * gmacs:.2f} GFLOP per image (2 x MACs)",
        ),
        compare(
            "2c",
            GROUP,
            f"float16 vs float32, batch {batch}",
            stats,
            "ours_fp16",
            "ours",
            ours_label=f"{OURS} float16",
            anchor_label=f"{OURS} float32",
            note=f"no target (the float16 file is for GPU providers); {precision_note(flags, 'float16')}",
        ),
        compare(
            "2d",
            GROUP,
            f"INT8 (static QDQ) vs float32, batch {batch}",
            stats,
            "ours_int8",
            "ours",
            ours_label=f"{OURS} INT8",
            anchor_label=f"{OURS} float32",
            target=1.5,
            note=precision_note(flags, "int8"),
        ),
    ]
    rows[0]["ours_gflops"] = achieved["median"]
    rows[0]["anchor_gflops"] = 2 * ctx.model_info["anchor"]["gmacs"] * stats["anchor"]["median"]
    rows[0]["peak_gflops"] = stats["peak"]["median"]
    return rows
