"""Describe the machine and the software a benchmark ran on, so a figure is never quoted without its context."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform

from keras_residual.hardware import describe as describe_hardware
from keras_residual.hardware import detect_cpu


def cpu_model() -> str:
    """The CPU model name (:func:`keras_residual.hardware.detect_cpu`)."""
    return detect_cpu().model


def cpu_flags() -> list[str]:
    """The SIMD features that matter for FP32/BF16/FP16/INT8 kernels, as the kernel reports them."""
    return list(detect_cpu().flags)


def versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones are left out)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages (None where the OS does not report them)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe(packages: tuple[str, ...]) -> dict:
    """One dict with the date (UTC), CPU, core count, SIMD flags, load average, package versions and the
    detected hardware (:func:`keras_residual.hardware.describe`: capabilities, device class, GPUs, oneDNN).

    Example:
        >>> info = describe(("numpy",))
        >>> sorted(info)[:3]
        ['cores', 'cpu', 'date']
    """
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "flags": cpu_flags(),
        "platform": platform.platform(),
        "load_average_start": load_average(),
        "versions": versions(packages),
        "hardware": describe_hardware(),
    }
