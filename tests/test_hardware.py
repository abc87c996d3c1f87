"""Hardware facts are parsed from what the OS reports, never assumed; notes follow the flags."""

import json
import subprocess
import sys

import pytest

from keras_residual import hardware

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512_vnni avx_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu
"""
EPYC = "vendor_id : AuthenticAMD\nmodel name : AMD EPYC\nflags : fpu sse4_2 avx avx2 fma f16c\n"
GRAVITON = (
    "processor : 0\nBogoMIPS : 243.75\nFeatures : fp asimd asimdhp sve bf16 i8mm\nCPU implementer : 0x41\n"
)


def test_xeon_with_amx():
    cpu = hardware.parse_cpuinfo(XEON, cores=2)
    assert (cpu.vendor, cpu.model, cpu.cores) == ("GenuineIntel", "Intel(R) Xeon(R) Processor", 2)
    assert "amx_bf16" in cpu.flags and "fpu" not in cpu.flags  # only the flags that decide kernel speed
    assert cpu.native_bf16 and cpu.native_fp16 and cpu.int8_dot_product and cpu.amx
    assert cpu.device_class == "cpu-amx"


def test_avx2_epyc_and_arm():
    epyc = hardware.parse_cpuinfo(EPYC, cores=2)
    assert epyc.vendor == "AuthenticAMD" and epyc.device_class == "cpu-avx2"
    assert not (epyc.native_bf16 or epyc.native_fp16 or epyc.int8_dot_product or epyc.amx)
    arm = hardware.parse_cpuinfo(GRAVITON, cores=4)
    assert arm.vendor == "0x41" and arm.device_class == "cpu-arm-bf16"
    assert arm.native_bf16 and arm.native_fp16 and arm.int8_dot_product
    assert hardware.parse_cpuinfo("", cores=1).device_class == "cpu-other"


@pytest.mark.parametrize(
    ("environ", "system", "machine", "enabled"),
    [
        ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "Linux", "x86_64", False),
        ({"TF_ENABLE_ONEDNN_OPTS": "1"}, "Darwin", "arm64", True),
        ({}, "Linux", "x86_64", True),
        ({}, "Darwin", "arm64", False),
        ({"TF_ENABLE_ONEDNN_OPTS": "maybe"}, "Linux", "aarch64", False),
    ],
)
def test_onednn_state(environ, system, machine, enabled):
    state = hardware.onednn_state(environ, system=system, machine=machine)
    assert state["enabled"] is enabled
    assert ("TF_ENABLE_ONEDNN_OPTS" in state["source"]) == (
        environ.get("TF_ENABLE_ONEDNN_OPTS") in ("0", "1")
    )


def test_precision_notes_follow_the_flags():
    avx2 = hardware.parse_cpuinfo(EPYC).flags
    amx = hardware.parse_cpuinfo(XEON).flags
    assert hardware.precision_note(avx2, "bfloat16").startswith("no native bfloat16 on this CPU (sse4_2, avx")
    assert hardware.precision_note(amx, "bfloat16") == "this CPU has native bfloat16 (avx512_bf16, amx_bf16)"
    assert "no native float16" in hardware.precision_note(avx2, "float16")
    assert "8-bit dot products (avx512_vnni, avx_vnni, amx_int8)" in hardware.precision_note(amx, "int8")
    assert "16-bit multiply-adds" in hardware.precision_note(avx2, "int8")
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        hardware.precision_note(amx, "float8")
    assert hardware.cpu_flags_of({"flags": ["avx2"]}) == {"avx2"}
    assert hardware.cpu_flags_of({"flags": ["avx2"], "hardware": {"cpu": {"flags": ["amx_bf16"]}}}) == {
        "amx_bf16"
    }


def test_gpus_from_nvidia_smi(monkeypatch):
    class Done:
        stdout = "NVIDIA H100 80GB HBM3, 9.0\nTesla V100-SXM2-16GB, 7.0\n"

    monkeypatch.setattr(hardware.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(hardware.subprocess, "run", lambda *a, **k: Done())
    gpus = hardware.detect_gpus()
    assert [(g.name, g.compute_capability, g.source) for g in gpus] == [
        ("NVIDIA H100 80GB HBM3", (9, 0), "nvidia-smi"),
        ("Tesla V100-SXM2-16GB", (7, 0), "nvidia-smi"),
    ]


def test_detection_imports_no_framework():
    code = (
        "import json, sys; from keras_residual import hardware; info = hardware.describe();"
        "print(json.dumps([info, sorted(m for m in ('tensorflow', 'keras', 'torch', 'jax') if m in sys.modules)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    info, imported = json.loads(out.stdout)
    assert imported == []
    assert info["cpu"]["cores"] >= 1 and isinstance(info["onednn"]["enabled"], bool)
    lines = hardware.summary_lines(info)
    assert lines[0].startswith("cpu: ") and any(line.startswith("onednn: ") for line in lines)


def test_info_prints_the_detected_hardware(capsys):
    from keras_residual.cli import main

    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["hardware"] == hardware.describe()
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert f"flags: {', '.join(hardware.detect_cpu().flags) or 'none detected'}" in text
    assert "onednn: " in text
    assert hardware.serving_lines(hardware.detect_cpu().device_class)[0] in text
    assert info["serving"] == hardware.serving_pick(hardware.detect_cpu().device_class)


def test_physical_cores_count_smt_siblings_once():
    smt = "".join(
        f"processor : {i}\nflags : avx2\nphysical id : {i // 4}\ncore id : {i % 2}\n\n" for i in range(8)
    )
    cpu = hardware.parse_cpuinfo(smt, cores=8)
    assert (cpu.cores, cpu.physical_cores) == (8, 4)  # 2 packages x 2 cores x 2 threads
    assert hardware.parse_cpuinfo("flags : avx2\n", cores=3).physical_cores == 3  # no topology: logical
    assert hardware.parse_cpuinfo(smt, cores=2).physical_cores == 2  # never more than this process sees


def test_serving_picks_are_their_records():
    from pathlib import Path

    from keras_residual.precision_table import lookup

    repo = Path(__file__).resolve().parents[1]
    assert hardware.SERVING_PICKS
    for pick in hardware.SERVING_PICKS:
        recorded = lookup(json.loads((repo / pick["record"]).read_text()), pick["key"])
        assert round(recorded, 2) == pytest.approx(pick["value"]), pick
        assert hardware.serving_pick(pick["device"]) is pick
        assert pick["runtime"] in hardware.serving_lines(pick["device"])[0]
    assert "nothing measured" in hardware.serving_lines("cpu-other")[0]
