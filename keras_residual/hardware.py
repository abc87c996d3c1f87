"""What the machine can do, detected rather than assumed: CPU vendor, model and SIMD flags, GPUs, oneDNN.

Benchmark notes, the ``auto`` precision rule and ``keras-residual info`` read these facts instead of
assuming them. The CPU facts come from ``/proc/cpuinfo`` (Linux) or :mod:`platform` elsewhere; GPUs from
``nvidia-smi`` when it is on the ``PATH``, and from TensorFlow, JAX or PyTorch only when one of them is
already imported (or TensorFlow when asked with ``use_tensorflow=True``), so nothing here imports a
framework by default and ``keras-residual info`` stays fast.

Example:
    ```python
    from keras_residual.hardware import detect_cpu, onednn_state

    cpu = detect_cpu()
    print(cpu.vendor, cpu.model, cpu.native_bf16, cpu.int8_dot_product)
    print(onednn_state())
    ```
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import shutil
import subprocess
import sys

SIMD_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "asimdhp",
    "sve",
    "bf16",
    "i8mm",
)
"""The ``/proc/cpuinfo`` flags that decide FP32, bfloat16, float16 and INT8 kernel speed (x86 and Arm)."""

_BF16 = ("avx512_bf16", "amx_bf16", "bf16")
_FP16 = ("avx512_fp16", "asimdhp")
_INT8 = ("avx512_vnni", "avx_vnni", "amx_int8", "i8mm")
_AMX = ("amx_bf16", "amx_int8")


@dataclasses.dataclass(frozen=True)
class CpuInfo:
    """The CPU as the operating system reports it.

    Attributes:
        vendor: ``"GenuineIntel"``, ``"AuthenticAMD"``, an Arm implementer code, or ``platform.machine()``.
        model: The model name (``lscpu``'s "Model name").
        cores: Logical cores visible to this process.
        flags: The subset of :data:`SIMD_FLAGS` the CPU reports, in that order.
        physical_cores: Physical cores (distinct ``physical id``/``core id`` pairs of ``/proc/cpuinfo``, so
            SMT siblings count once); ``cores`` where the OS does not say.
    """

    vendor: str
    model: str
    cores: int
    flags: tuple[str, ...]
    physical_cores: int = 0

    def __post_init__(self):
        if self.physical_cores <= 0:
            object.__setattr__(self, "physical_cores", self.cores)

    @property
    def native_bf16(self) -> bool:
        """bfloat16 arithmetic in hardware (AVX512_BF16, AMX-BF16 or Arm BF16), not emulated through float32."""
        return any(flag in self.flags for flag in _BF16)

    @property
    def native_fp16(self) -> bool:
        """float16 arithmetic in hardware (AVX512_FP16 or Arm FP16), not just F16C conversions."""
        return any(flag in self.flags for flag in _FP16)

    @property
    def int8_dot_product(self) -> bool:
        """8-bit dot-product instructions (AVX512-VNNI, AVX-VNNI, AMX-INT8 or Arm I8MM)."""
        return any(flag in self.flags for flag in _INT8)

    @property
    def amx(self) -> bool:
        """Intel AMX tiles for bfloat16 or INT8 matrix multiplication."""
        return any(flag in self.flags for flag in _AMX)

    @property
    def device_class(self) -> str:
        """The class the precision table keys on: ``cpu-amx``, ``cpu-avx512-bf16``, ``cpu-avx512``,
        ``cpu-avx2``, ``cpu-arm-bf16`` or ``cpu-other``."""
        if self.amx:
            return "cpu-amx"
        if "avx512_bf16" in self.flags:
            return "cpu-avx512-bf16"
        if "avx512f" in self.flags:
            return "cpu-avx512"
        if "avx2" in self.flags:
            return "cpu-avx2"
        if "bf16" in self.flags:
            return "cpu-arm-bf16"
        return "cpu-other"


def parse_cpuinfo(text: str, cores: int | None = None) -> CpuInfo:
    """Build a :class:`CpuInfo` from the text of ``/proc/cpuinfo`` (x86 ``flags`` or Arm ``Features``).

    Example:
        >>> cpu = parse_cpuinfo("vendor_id : GenuineIntel\\nmodel name : Xeon\\nflags : fpu avx2 fma amx_bf16\\n")
        >>> cpu.flags, cpu.native_bf16, cpu.device_class
        (('avx2', 'fma', 'amx_bf16'), True, 'cpu-amx')
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key not in fields:  # the first processor's block describes the CPU
            fields[key] = value.strip()
    visible = cores if cores is not None else (os.cpu_count() or 1)
    have = set((fields.get("flags") or fields.get("features") or "").split())
    vendor = fields.get("vendor_id") or fields.get("cpu implementer") or platform.machine() or "unknown"
    model = fields.get("model name") or fields.get("hardware") or platform.processor() or "unknown CPU"
    return CpuInfo(
        vendor=vendor,
        model=model,
        cores=visible,
        flags=tuple(flag for flag in SIMD_FLAGS if flag in have),
        physical_cores=min(visible, _physical_cores(text) or visible),
    )


def _physical_cores(text: str) -> int:
    """Distinct (``physical id``, ``core id``) pairs in ``/proc/cpuinfo`` text; 0 when it lists none."""
    pairs, package = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            pairs.add((package, value.strip()))
    return len(pairs)


@functools.lru_cache(maxsize=1)
def detect_cpu() -> CpuInfo:
    """The CPU this process runs on (read once per process; :func:`parse_cpuinfo` of ``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        text = ""
    return parse_cpuinfo(text)


def onednn_state(
    environ: dict[str, str] | None = None, system: str | None = None, machine: str | None = None
) -> dict:
    """Whether TensorFlow's oneDNN CPU kernels are on, and why.

    ``TF_ENABLE_ONEDNN_OPTS`` decides when set (``0``/``false`` off, ``1``/``true`` on); otherwise the
    platform default of TensorFlow >= 2.9 applies: on for x86-64 Linux and Windows, off elsewhere.

    Returns:
        ``{"enabled": bool, "source": str}``.

    Example:
        >>> onednn_state({"TF_ENABLE_ONEDNN_OPTS": "0"})
        {'enabled': False, 'source': 'TF_ENABLE_ONEDNN_OPTS=0'}
        >>> onednn_state({}, system="Linux", machine="x86_64")["enabled"]
        True
    """
    environ = os.environ if environ is None else environ
    value = environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is not None and value.strip().lower() in ("0", "1", "true", "false"):
        return {"enabled": value.strip().lower() in ("1", "true"), "source": f"TF_ENABLE_ONEDNN_OPTS={value}"}
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    default_on = system in ("Linux", "Windows") and machine in ("x86_64", "amd64")
    return {"enabled": default_on, "source": f"TensorFlow default on {system} {machine}"}


@dataclasses.dataclass(frozen=True)
class GpuInfo:
    """One GPU: its name, compute capability (``(major, minor)`` or None) and who reported it."""

    name: str
    compute_capability: tuple[int, int] | None
    source: str


def _capability(text: str) -> tuple[int, int] | None:
    major, _, minor = str(text).strip().partition(".")
    if not major.isdigit():
        return None
    return int(major), int(minor) if minor.isdigit() else 0


def _nvidia_smi() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        done = subprocess.run(
            [exe, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in done.stdout.splitlines():
        name, _, cap = line.rpartition(",")
        if name.strip():
            gpus.append(GpuInfo(name.strip(), _capability(cap), "nvidia-smi"))
    return gpus


def _from_tensorflow() -> list[GpuInfo]:
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        cap = details.get("compute_capability")
        gpus.append(
            GpuInfo(
                details.get("device_name", device.name),
                tuple(int(v) for v in cap) if cap else None,
                "tensorflow",
            )
        )
    return gpus


def _from_torch() -> list[GpuInfo]:
    torch = sys.modules["torch"]
    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    return [
        GpuInfo(torch.cuda.get_device_name(i), tuple(torch.cuda.get_device_capability(i)), "torch")
        for i in range(count)
    ]


def _from_jax() -> list[GpuInfo]:
    jax = sys.modules["jax"]
    gpus = []
    for device in jax.devices():
        if device.platform == "gpu":
            cap = _capability(getattr(device, "compute_capability", "") or "")
            gpus.append(GpuInfo(device.device_kind, cap, "jax"))
    return gpus


def detect_gpus(use_tensorflow: bool = False) -> list[GpuInfo]:
    """The GPUs, cheaply: ``nvidia-smi`` first, else a framework that is already imported.

    Args:
        use_tensorflow: Also import TensorFlow to ask it (seconds) when nothing cheaper answered.

    Returns:
        One :class:`GpuInfo` per GPU; empty on a CPU-only machine.
    """
    gpus = _nvidia_smi()
    if gpus:
        return gpus
    readers = [(name, fn) for name, fn in (("torch", _from_torch), ("jax", _from_jax)) if name in sys.modules]
    if use_tensorflow or "tensorflow" in sys.modules:
        readers.append(("tensorflow", _from_tensorflow))
    for _name, reader in readers:
        try:
            gpus = reader()
        except Exception:  # a framework without a working GPU runtime simply reports none
            gpus = []
        if gpus:
            return gpus
    return []


def describe(use_tensorflow: bool = False) -> dict:
    """The hardware facts as one JSON-ready dict: CPU, its capabilities, device class, GPUs and oneDNN.

    Example:
        >>> sorted(describe())
        ['cpu', 'gpus', 'onednn']
    """
    cpu = detect_cpu()
    return {
        "cpu": {
            "vendor": cpu.vendor,
            "model": cpu.model,
            "cores": cpu.cores,
            "physical_cores": cpu.physical_cores,
            "flags": list(cpu.flags),
            "native_bf16": cpu.native_bf16,
            "native_fp16": cpu.native_fp16,
            "int8_dot_product": cpu.int8_dot_product,
            "amx": cpu.amx,
            "device_class": cpu.device_class,
        },
        "gpus": [
            {
                "name": g.name,
                "compute_capability": ".".join(map(str, g.compute_capability))
                if g.compute_capability
                else None,
                "source": g.source,
            }
            for g in detect_gpus(use_tensorflow)
        ],
        "onednn": onednn_state(),
    }


SERVING_PICKS: tuple[dict, ...] = (
    {
        "device": "cpu-amx",
        "runtime": "OpenVINO INT8 (export(model, path, 'openvino', precision='int8'))",
        "why": "PERFORMANCE_HINT=THROUGHPUT (a stream per core), 2 infer requests in flight, batch 4, ResNet-50",
        "value": 210.19,
        "unit": "img/s per physical core (MLPerf Inference v4.0, 2x Xeon 8592+: about 198)",
        "record": "benchmarks/records/serving_per_core_cpu-amx.json",
        "key": "rows[key=tune/ov_int8/throughput-sauto-q2-b4].per_core",
    },
    {
        "device": "cpu-avx2",
        "runtime": "ONNX Runtime float32",
        "why": "no 8-bit dot products, no native bfloat16",
        "value": 0.96,
        "unit": "x float32 for INT8 (static QDQ), ResNet-50",
        "record": "benchmarks/machines/amd-epyc-cpu-avx2.json",
        "key": "rows[id=2d].ratio",
    },
)
"""The serving runtime measured fastest per CPU class, with the figure and the record it comes from
(``benchmarks/serving_per_core.py`` for per-core serving; a test compares each figure with its record)."""


def serving_pick(device_class: str) -> dict | None:
    """The measured serving pick for a CPU class (:data:`SERVING_PICKS`), or None where nothing was measured.

    Example:
        >>> serving_pick("cpu-avx2")["runtime"], serving_pick("cpu-other")
        ('ONNX Runtime float32', None)
    """
    return next((pick for pick in SERVING_PICKS if pick["device"] == device_class), None)


def serving_lines(device_class: str) -> list[str]:
    """What ``keras-residual info`` prints about serving on this CPU class."""
    pick = serving_pick(device_class)
    if pick is None:
        return [
            f"serving: nothing measured for class {device_class}; `python benchmarks/serving_per_core.py` "
            "in a source checkout measures every runtime here"
        ]
    return [
        f"serving: {pick['runtime']} measured fastest on class {device_class}: {pick['value']:g} {pick['unit']} "
        f"({pick['why']}; {pick['record']})"
    ]


def cpu_flags_of(record: dict) -> set[str]:
    """The CPU flag set of a recorded machine description (a benchmark record's ``machine`` or ``hardware``)."""
    hardware = record.get("hardware") or {}
    return set(hardware.get("cpu", {}).get("flags") or record.get("flags") or [])


def precision_note(flags: set[str] | tuple[str, ...], dtype: str) -> str:
    """One sentence on how a CPU with ``flags`` runs ``dtype`` (``bfloat16``, ``float16`` or ``int8``).

    Benchmark notes are built from this, so a note always matches the machine it describes.

    Example:
        >>> precision_note({"avx2", "fma"}, "bfloat16")
        'no native bfloat16 on this CPU (avx2, fma): bfloat16 is emulated through float32 conversions'
        >>> precision_note({"avx512_bf16", "amx_bf16"}, "bfloat16")
        'this CPU has native bfloat16 (avx512_bf16, amx_bf16)'
    """
    names = {"bfloat16": _BF16, "float16": _FP16, "int8": _INT8}
    if dtype not in names:
        raise ValueError(f"`dtype` must be one of {sorted(names)}; received dtype={dtype!r}")
    native = [flag for flag in SIMD_FLAGS if flag in names[dtype] and flag in set(flags)]
    if native:
        kind = "8-bit dot products" if dtype == "int8" else f"native {dtype}"
        return f"this CPU has {kind} ({', '.join(native)})"
    shown = ", ".join(flag for flag in SIMD_FLAGS if flag in set(flags)) or "no SIMD flags recorded"
    if dtype == "int8":
        return (
            f"no 8-bit dot-product instructions on this CPU ({shown}): INT8 kernels use 16-bit multiply-adds"
        )
    return f"no native {dtype} on this CPU ({shown}): {dtype} is emulated through float32 conversions"


def summary_lines(info: dict) -> list[str]:
    """Human-readable lines for :func:`describe`'s dict (``keras-residual info`` prints them)."""
    cpu = info["cpu"]
    caps = [
        name
        for name, on in (
            ("native bf16", cpu["native_bf16"]),
            ("native fp16", cpu["native_fp16"]),
            ("int8 dot product", cpu["int8_dot_product"]),
            ("AMX", cpu["amx"]),
        )
        if on
    ]
    lines = [
        f"cpu: {cpu['model']} ({cpu['vendor']}), {cpu['cores']} logical cores, class {cpu['device_class']}",
        f"  flags: {', '.join(cpu['flags']) or 'none detected'}",
        f"  capabilities: {', '.join(caps) or 'float32 only (no native bf16/fp16, no int8 dot product)'}",
        f"onednn: {'on' if info['onednn']['enabled'] else 'off'} ({info['onednn']['source']})",
    ]
    if info["gpus"]:
        for gpu in info["gpus"]:
            lines.append(f"gpu: {gpu['name']}, compute capability {gpu['compute_capability'] or 'unknown'}")
    else:
        lines.append("gpu: none detected")
    return lines
