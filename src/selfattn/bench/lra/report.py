"""The LRA table and charts: accuracy per task and average, speed and memory against full.

* ``table_rows(rows, speed, lengths)``: one dict per attention: accuracy per task, the
  average, and at each length of ``lengths`` examples/s and peak memory relative to
  full (measured in the same interleaved sweep), plus the crossover length.
* ``markdown_table`` / ``write_csv``: the same rows as text.
* ``lra_chart``: the lecture's chart (LRA, Figure 3): speed on x (examples/s relative to
  full at one length), average score on y, peak memory as the bubble's area.
* ``crossover_chart``: each attention's time relative to full against the length, with
  the crossover where it starts to beat full.
"""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["crossover_chart", "lra_chart", "markdown_table", "table_rows", "write_csv"]


def _tasks(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["task"] for r in rows))


def table_rows(rows: list[dict], speed: dict | None, lengths: list[int] | tuple[int, ...]) -> list[dict]:
    """One dict per attention (in the order of ``rows``): ``attention``, ``<task>`` accuracy,
    ``average`` (over the tasks it ran), ``speed_<L>`` and ``memory_<L>`` (ratios to full;
    None where not measured), ``crossover_length``."""
    tasks = _tasks(rows)
    by = {(r["task"], r["attention"]): r["accuracy"] for r in rows}
    results = (speed or {}).get("results", {})
    out = []
    for name in dict.fromkeys(r["attention"] for r in rows):
        row: dict = {"attention": name}
        accs = []
        for t in tasks:
            row[t] = by.get((t, name))
            if row[t] is not None:
                accs.append(row[t])
        row["average"] = sum(accs) / len(accs) if accs else None
        per = results.get(name, {}).get("lengths", {})
        for n in lengths:
            cell = per.get(str(n), {})
            row[f"speed_{n}"] = cell.get("speedup_vs_full")
            row[f"memory_{n}"] = cell.get("peak_ratio_vs_full")
        row["crossover_length"] = results.get(name, {}).get("crossover_length")
        out.append(row)
    return out


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown_table(table: list[dict], chance: dict[str, float] | None = None) -> str:
    """A Markdown table of ``table_rows``: accuracies to 3 places, ratios as ``1.23x``."""
    if not table:
        raise ValueError("table: expected at least one row, got none")
    keys = [k for k in table[0] if k != "attention"]
    head = ["attention", *(k.replace("_", " ") for k in keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if chance:
        lines.append("| *chance (majority class)* | " + " | ".join(
            _fmt(chance.get(k), ".3f") if k in chance else "" for k in keys) + " |")
    for row in table:
        cells = []
        for k in keys:
            v = row[k]
            if k.startswith(("speed_", "memory_")):
                cells.append(_fmt(v, ".2f") + ("x" if v is not None else ""))
            elif k == "crossover_length":
                cells.append("never" if v is None and row["attention"] != "full" else _fmt(v, "d"))
            else:
                cells.append(_fmt(v, ".3f"))
        lines.append(f"| {row['attention']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(table: list[dict], path: str | Path) -> Path:
    """``table_rows`` as CSV (empty cells where not measured)."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows([{k: ("" if v is None else v) for k, v in row.items()} for row in table])
    return path


def lra_chart(table: list[dict], length: int, path: str | Path, title: str = "") -> Path:
    """Speed (x, relative to full, log scale) against average accuracy (y); the bubble's
    area is proportional to peak memory relative to full (all at ``length``). Each
    attention has its own colour; the legend gives its score, speed and memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 6.5))
    cmap = plt.get_cmap("tab20")
    drawn = 0
    for i, row in enumerate(table):
        x, y, mem = row.get(f"speed_{length}"), row.get("average"), row.get(f"memory_{length}")
        if x is None or y is None:
            continue
        full = row["attention"] == "full"
        label = f"{row['attention']}: {y:.3f}, {x:.2f}x speed"
        label += "" if mem is None else f", {mem:.2f}x memory"
        ax.scatter(x, y, s=300 * (mem if mem is not None else 1.0), alpha=0.45, linewidths=0.8,
                   color="black" if full else cmap(2 * (i % 10) + i // 10), edgecolors="black", label=label)
        ax.scatter(x, y, s=8, color="black")
        if full:
            ax.axhline(y, color="black", lw=0.8, ls="--")
        drawn += 1
    if not drawn:
        raise ValueError(f"table: no attention has both an average score and a speed at L={length}")
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set(xlabel=f"examples/s relative to full attention, forward + backward at L = {length}",
           ylabel="average test accuracy over the tasks",
           title=title or f"LRA: score vs speed (bubble area ~ peak memory vs full at L = {length})")
    ax.margins(x=0.25, y=0.25)
    ax.grid(alpha=0.3)
    legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=0.4,
                       title="attention: avg score, speed, memory", title_fontsize=8)
    for handle in legend.legend_handles:
        handle.set_sizes([40])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def crossover_chart(speed: dict, path: str | Path, title: str = "") -> Path:
    """Time of a step relative to full (full / attention, above 1 = faster) against L."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = speed["config"]["lengths"]
    fig, ax = plt.subplots(figsize=(9, 6))
    cmap = plt.get_cmap("tab20")
    for i, (name, res) in enumerate(speed["results"].items()):
        if name == "full":
            continue
        ratios = [res["lengths"][str(n)]["speedup_vs_full"] for n in lengths]
        color = cmap(2 * (i % 10) + i // 10)  # the colours of lra_chart
        ax.plot(lengths, ratios, marker="o", color=color, ls="-" if i < 10 else "--", label=name)
        cross = res.get("crossover_interpolated")
        if cross is not None:
            ax.scatter([cross], [1.0], color=color, marker="x", s=60, zorder=3)
    ax.axhline(1.0, color="black", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="sequence length L",
           ylabel="speed relative to full attention (forward + backward)",
           title=title or "Where each attention starts to beat full (x: crossover)")
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
