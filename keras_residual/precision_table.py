"""The measurements behind ``resolve_precision("auto")``: per device class, training throughput per policy.

Each entry is one figure with its provenance. :func:`fastest_policy` turns the entries of a device
class into the policy ``auto`` picks, so changing the rule means adding a measurement here (with
``keras-residual bench --precision-probe`` or ``benchmarks/``), not editing an ``if``. Device classes:
``cpu-amx``, ``cpu-avx512-bf16``, ``cpu-avx512``, ``cpu-avx2``, ``cpu-arm-bf16``, ``cpu-other``
(:attr:`keras_residual.hardware.CpuInfo.device_class`), ``gpu-cc<major>.<minor>`` and ``tpu``.

``kind`` is ``"measured"`` (a run recorded in this repository) or ``"published"`` (a vendor figure:
used only where nothing was measured). A measured entry names its evidence: ``record`` (a JSON file under
``benchmarks/``) and ``key`` (where the figure sits in it, see :func:`lookup`), and, where accuracy decided,
``accuracy_record`` with the keys of the policy's and float32's mean accuracy; a test opens each record and
compares. ``accuracy_ok`` is False for a policy that lost accuracy at
equal steps in that run, which excludes it; None means accuracy was not part of that measurement
(a step-time benchmark on synthetic data). This module imports nothing heavy.
"""

from __future__ import annotations

TIE = 0.05
"""Policies within this fraction of the fastest count as equally fast; then :data:`PREFERENCE` decides."""

PREFERENCE = ("float32", "mixed_bfloat16", "mixed_float16")
"""Tie-break order: fewest numerical hazards first (float16 needs loss scaling and can overflow)."""

MEASUREMENTS: tuple[dict, ...] = (
    # AMD EPYC, AVX2 + FMA, 2 cores, TF 2.21: ResNet-50 training step, batch 16 (rows 3a/3b).
    *(
        {
            "device": "cpu-avx2",
            "policy": policy,
            "throughput": value,
            "unit": "img/s",
            "hardware": "AMD EPYC (avx2, fma), 2 cores",
            "workload": "keras_residual resnet50 train_on_batch, batch 16, 224x224, TensorFlow 2.21",
            "accuracy_ok": None,
            "kind": "measured",
            "source": "benchmarks/RESULTS.md, AMD EPYC section, rows 3a/3b (2026-11-23 07:48 UTC)",
            "record": "benchmarks/machines/amd-epyc-cpu-avx2.json",
            "key": f"rows[id={row}].ours.median",
        }
        for policy, value, row in (("float32", 1.9, "3a"), ("mixed_bfloat16", 0.3, "3b"))
    ),
    # Intel Xeon with AMX-BF16/INT8, AVX512-BF16 and VNNI, 2 cores, TF 2.21: both policies and both models in
    # the same interleaved rounds (load 1.5-3.8; a run at load 11-13 gave 1.38x): bfloat16 stepped 1.32x faster.
    # Accuracy: the digits recipe (resnet20_cifar, 6 epochs) over 5 seeds per policy ended at 99.61% +- 0.37
    # held-out accuracy under mixed_bfloat16 against 99.44% +- 0.28 in float32 (benchmarks/precision_seeds.py,
    # 2026-12-06): kept (accuracy_kept), so auto trains in mixed_bfloat16 on this class. One earlier seed-0 run
    # (99.17% vs 99.72%) had been read as a loss; the seeds show it was noise.
    *(
        {
            "device": "cpu-amx",
            "policy": policy,
            "throughput": value,
            "unit": "img/s",
            "hardware": "Intel Xeon (avx512_bf16, amx_bf16, amx_int8, avx512_vnni), 2 cores, load 1.5-3.8",
            "workload": "keras_residual resnet50 train_on_batch, batch 16, 224x224, TensorFlow 2.21",
            "accuracy_ok": accuracy_ok,
            "kind": "measured",
            "source": "benchmarks/profiles/train_gap_cpu-amx_quiet.json (benchmarks/precision_gap.py, 2026-11-30 11:20 UTC)",
            "record": "benchmarks/profiles/train_gap_cpu-amx_quiet.json",
            "key": f"stats.ours_{policy}.median",
            "accuracy_record": "benchmarks/records/precision_seeds_cpu-amx.json",
            "accuracy_key": f"rows[key={policy}/final].value",
            "accuracy_reference_key": "rows[key=float32/final].value",
        }
        for policy, value, accuracy_ok in (("float32", 2.71, True), ("mixed_bfloat16", 3.58, True))
    ),
    # NVIDIA H100 80GB HBM3 (compute capability 9.0), Keras on JAX: ResNet-50 training, batch 256.
    *(
        {
            "device": "gpu-cc9.0",
            "policy": policy,
            "throughput": value,
            "unit": "img/s",
            "hardware": "NVIDIA H100 80GB HBM3",
            "workload": "keras_residual resnet50, batch 256, 224x224, Keras 3.15 on JAX 0.11",
            "accuracy_ok": None,
            "kind": "measured",
            "source": "benchmarks/RESULTS.md, GPU section (benchmarks/gpu_train.py, 2026-11-23 06:04 UTC)",
            "record": "benchmarks/gpu_results.json",
            "key": f"rows[key=ours,policy={policy}].img_s.median",
        }
        for policy, value in (("float32", 2670.7), ("mixed_bfloat16", 4468.7), ("mixed_float16", 4678.9))
    ),
    # Published peaks where nothing was measured here (dense tensor-core TFLOP/s, NVIDIA data sheets).
    *(
        {
            "device": "gpu-cc8.0",
            "policy": policy,
            "throughput": value,
            "unit": "peak TFLOP/s",
            "hardware": "NVIDIA A100",
            "workload": "data-sheet peak (float32 runs as TF32 on tensor cores)",
            "accuracy_ok": None,
            "kind": "published",
            "source": "NVIDIA A100 data sheet",
        }
        for policy, value in (("float32", 156.0), ("mixed_bfloat16", 312.0), ("mixed_float16", 312.0))
    ),
    *(
        {
            "device": "gpu-cc7.0",
            "policy": policy,
            "throughput": value,
            "unit": "peak TFLOP/s",
            "hardware": "NVIDIA V100 (no bfloat16 arithmetic)",
            "workload": "data-sheet peak",
            "accuracy_ok": None,
            "kind": "published",
            "source": "NVIDIA V100 data sheet",
        }
        for policy, value in (("float32", 15.7), ("mixed_float16", 125.0))
    ),
    {
        "device": "tpu",
        "policy": "mixed_bfloat16",
        "throughput": 1.0,
        "unit": "relative",
        "hardware": "Cloud TPU (bfloat16 matrix units; float16 unsupported)",
        "workload": "hardware capability",
        "accuracy_ok": None,
        "kind": "published",
        "source": "Cloud TPU documentation: bfloat16 is the native matmul type",
    },
)
"""Every figure ``auto`` is decided from (see the module docstring)."""


SERVING_MEASUREMENTS: tuple[dict, ...] = (
    # SavedModel serving_default through the TF1 session loader, float32 vs bfloat16 export, interleaved.
    *(
        {
            "device": "cpu-amx",
            "policy": policy,
            "throughput": value,
            "unit": "img/s",
            "hardware": "Intel Xeon (avx512_bf16, amx_bf16, amx_int8, avx512_vnni), 2 cores, load 10-15",
            "workload": "keras_residual resnet50 SavedModel, batch 16, 224x224, TensorFlow 2.21",
            "accuracy_ok": True,  # resnet20_cifar on digits: top-1 agreement 360/360 held-out images
            "kind": "measured",
            "source": "benchmarks/profiles/serving_precision_cpu-amx.json (benchmarks/serving_precision.py)",
            "record": "benchmarks/profiles/serving_precision_cpu-amx.json",
            "key": f"resnet50_224.speed.16.img_per_s.{dtype}.median",
        }
        for policy, value, dtype in (("float32", 9.62, "float32"), ("mixed_bfloat16", 20.32, "bfloat16"))
    ),
)
"""Serving measurements (float32 vs bfloat16 SavedModel exports), for :func:`serving_dtype`."""


def serving_dtype(device: str | None) -> str:
    """The SavedModel compute dtype that served fastest on a device class with top-1 agreement kept:
    ``"bfloat16"`` or ``"float32"`` (the latter for every class without a serving measurement).

    The class is the one of the machine that will *serve* the export, which need not be the exporting one.

    Example:
        >>> serving_dtype("cpu-amx"), serving_dtype("cpu-avx2")
        ('bfloat16', 'float32')
    """
    policy = fastest_policy(device, SERVING_MEASUREMENTS)
    return "bfloat16" if policy == "mixed_bfloat16" else "float32"


def gpu_class(capability: tuple[int, int]) -> str | None:
    """The measured GPU class a compute capability falls under: the newest listed one not newer than it.

    Example:
        >>> gpu_class((8, 6)), gpu_class((10, 0)), gpu_class((6, 1))
        ('gpu-cc8.0', 'gpu-cc9.0', None)
    """
    listed = sorted(
        {
            tuple(int(v) for v in m["device"][len("gpu-cc") :].split("."))
            for m in MEASUREMENTS
            if m["device"].startswith("gpu-cc")
        }
    )
    eligible = [cap for cap in listed if cap <= tuple(capability)]
    return f"gpu-cc{eligible[-1][0]}.{eligible[-1][1]}" if eligible else None


def fastest_policy(device: str | None, measurements: tuple[dict, ...] = MEASUREMENTS) -> str:
    """The policy ``auto`` picks for a device class: the fastest with accuracy kept, ties (within
    :data:`TIE`) broken by :data:`PREFERENCE`; ``"float32"`` for a class nothing was recorded for.

    Measured entries win over published ones for the same class.

    Example:
        >>> fastest_policy("cpu-amx"), fastest_policy("cpu-avx2"), fastest_policy("gpu-cc7.0")
        ('mixed_bfloat16', 'float32', 'mixed_float16')
    """
    rows = [m for m in measurements if m["device"] == device and m["accuracy_ok"] is not False]
    if any(m["kind"] == "measured" for m in rows):
        rows = [m for m in rows if m["kind"] == "measured"]
    if not rows:
        return "float32"
    best = max(m["throughput"] for m in rows)
    tied = {m["policy"] for m in rows if m["throughput"] >= (1 - TIE) * best}
    return next(policy for policy in PREFERENCE if policy in tied)


def lookup(data, key: str):
    """The value at ``key`` in parsed JSON ``data``: dot-separated steps, where ``name[f=v,g=w]`` picks the
    element of list ``name`` whose fields match.

    Example:
        >>> lookup({"rows": [{"id": "3a", "x": {"m": 2}}]}, "rows[id=3a].x.m")
        2
    """
    for step in key.split("."):
        name, _, selector = step.partition("[")
        data = data[name] if isinstance(data, dict) else data[int(name)]
        if selector:
            want = dict(pair.split("=", 1) for pair in selector.rstrip("]").split(","))
            data = next(item for item in data if all(str(item.get(k)) == v for k, v in want.items()))
    return data


def accuracy_kept(candidate: dict, reference: dict) -> bool:
    """Whether a policy kept accuracy against float32 over seeds: its mean held-out accuracy is at most one
    seed standard deviation (the larger of the two) below float32's. Both are record rows with ``value``
    (mean, percent) and ``std``.

    Example:
        >>> accuracy_kept({"value": 99.4, "std": 0.3}, {"value": 99.6, "std": 0.2})
        True
    """
    return candidate["value"] >= reference["value"] - max(candidate["std"], reference["std"])


def entries(device: str) -> list[dict]:
    """The recorded figures of one device class (what ``--precision-probe`` shows beside its own)."""
    return [m for m in MEASUREMENTS if m["device"] == device]
