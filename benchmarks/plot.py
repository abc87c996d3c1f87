"""The figure of the docs' Benchmarks page: CPU ratios against their targets, one panel per CPU machine side by
side, and GPU training throughput."""

from __future__ import annotations

from pathlib import Path

_SHOWN = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")


def plot(cpus: list[dict] | dict | None, gpu: dict | None, path: str | Path) -> Path:
    """Draw the CPU ratio bars of each machine (left, side by side) and, when recorded, the GPU images/s bars
    (right) into ``path`` (PNG).

    Example:
        >>> plot([json.load(open("benchmarks/results.json"))], None, "benchmarks.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_residual._atomic import atomic_path

    cpus = [cpus] if isinstance(cpus, dict) else list(cpus or [])
    panels = [*cpus, *([gpu] if gpu else [])]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6.5 * max(1, len(panels)), 5.5), squeeze=False)
    axes = list(axes[0])
    for cpu in cpus:
        _cpu_panel(axes.pop(0), cpu)
    if gpu:
        _gpu_panel(axes.pop(0), gpu)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _cpu_panel(ax, cpu: dict) -> None:
    rows = [r for r in cpu["rows"] if r.get("status") == "ok" and not r["group"].startswith("5.")]
    labels = [f"{r['id']} {r['title'][:48]}" for r in rows][::-1]
    ratios = [r["ratio"] for r in rows][::-1]
    colors = ["#4c72b0" if r.get("met") is None else ("#55a868" if r["met"] else "#c44e52") for r in rows][
        ::-1
    ]
    ax.barh(labels, ratios, color=colors)
    for i, r in enumerate(rows[::-1]):
        if r.get("target") is not None:
            ax.plot([r["target"]] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("ratio of medians (black tick: target; green met, red missed, blue no target)")
    m = cpu["machine"]
    ax.set_title(
        f"CPU: ours / anchor, {m['date']}, load {(m.get('load_average_start') or ['?'])[0]}\n"
        f"{m['cpu']} ({', '.join(f for f in m.get('flags', []) if f in _SHOWN) or 'no SIMD flags recorded'})",
        fontsize=9,
    )
    ax.tick_params(axis="y", labelsize=7)


def _gpu_panel(ax, gpu: dict) -> None:
    rows = [r for r in gpu["rows"] if r.get("status") == "ok"]
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    width = 0.8 / max(1, len(models))
    for j, model in enumerate(models):
        values = [
            next((r["img_s"]["median"] for r in rows if r["model"] == model and r["policy"] == p), 0)
            for p in policies
        ]
        ax.bar([i + j * width for i in range(len(policies))], values, width, label=model)
    ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(policies))], policies)
    ax.set_ylabel("training images/s (median)")
    ax.set_title(
        f"GPU: ResNet-50 training, batch {gpu['batch_size']}, {gpu['machine']['device']}\n"
        f"{gpu['machine']['date']}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
