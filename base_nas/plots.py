"""Figures of a search: op-probability heatmaps, cell diagrams and training curves.

Figures are built on ``matplotlib.figure.Figure`` directly (rendered by Agg), never through
pyplot, so plotting changes no global backend state and works without a display. Every file is
saved atomically, so a figure being viewed while a search rewrites it is never half drawn.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from base_nas.runs import atomic_savefig, read_metrics

DPI = 130

# One colour per op name, stable across figures (normal and reduce cells agree).
_OP_COLORS = {
    "none": "#9e9e9e", "skip_connect": "#2e7d32", "max_pool_3x3": "#6a1b9a",
    "avg_pool_3x3": "#ad1457", "sep_conv_3x3": "#1565c0", "sep_conv_5x5": "#00838f",
    "dil_conv_3x3": "#e65100", "dil_conv_5x5": "#8d6e63", "nor_conv_1x1": "#00838f",
    "nor_conv_3x3": "#1565c0",
}
_FALLBACK_COLORS = ["#c62828", "#283593", "#558b2f", "#4e342e", "#37474f", "#f9a825"]


def _op_color(op: str) -> str:
  if op in _OP_COLORS:
    return _OP_COLORS[op]
  return _FALLBACK_COLORS[sum(map(ord, op)) % len(_FALLBACK_COLORS)]


# ---------------------------------------------------------------------------------------------
# Op-probability heatmaps


def plot_arch_weights(weights: Mapping[str, np.ndarray], ops: Sequence[str],
                      edge_labels: Sequence[str], path: str, title: str | None = None) -> str:
  """Heatmaps of op probabilities, one per cell type, side by side.

  Args:
    weights: cell type -> ``[num_edges, num_ops]`` probabilities (rows sum to 1).
    ops: the op names (columns).
    edge_labels: the edge names (rows), e.g. ``"0->2"``.
    path: the image file; the format follows its extension.
    title: a title above the panels.

  Returns:
    ``path``.
  """
  arrays = {name: np.asarray(w, dtype=np.float64) for name, w in weights.items()}
  for name, w in arrays.items():
    if w.shape != (len(edge_labels), len(ops)):
      raise ValueError(f"weights[{name!r}] has shape {w.shape}; expected "
                       f"({len(edge_labels)}, {len(ops)}) = (edges, ops)")
  n_edges, n_ops = len(edge_labels), len(ops)
  # Scale the colours to the largest probability: early in a search all are near 1/num_ops,
  # and a fixed 0..1 scale would show one flat colour.
  vmax = max([float(w.max()) for w in arrays.values() if w.size] + [1e-6])
  panel_w, panel_h = 0.62 * n_ops + 1.2, 0.34 * n_edges + 1.6
  fig = Figure(figsize=(panel_w * len(arrays) + 1.0, panel_h + (0.4 if title else 0)), dpi=DPI)
  axes = fig.subplots(1, len(arrays), squeeze=False)[0]
  image = None
  for ax, (name, w) in zip(axes, arrays.items()):
    image = ax.imshow(w, cmap="Blues", vmin=0.0, vmax=vmax, aspect="auto")
    best = w.argmax(axis=1) if w.size else []
    for i in range(n_edges):
      for j in range(n_ops):
        value = w[i, j]
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="white" if value > 0.6 * vmax else "#222222",
                fontweight="bold" if j == best[i] else "normal")
    ax.set_xticks(range(n_ops), labels=list(ops), rotation=40, ha="right",
                  rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n_edges), labels=list(edge_labels), fontsize=8)
    ax.set_title(name, fontsize=10)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
      spine.set_visible(False)
    # Thin white grid lines separate the cells of the heatmap.
    ax.set_xticks(np.arange(-0.5, n_ops), minor=True)
    ax.set_yticks(np.arange(-0.5, n_edges), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
  if image is not None:
    bar = fig.colorbar(image, ax=list(axes), shrink=0.8, pad=0.02, fraction=0.04)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("probability", fontsize=8)
  if title:
    fig.suptitle(title, fontsize=11)
  atomic_savefig(fig, path, dpi=DPI, bbox_inches="tight")
  return path


# ---------------------------------------------------------------------------------------------
# Cell diagrams

_INPUT = re.compile(r"^c_\{k-(\d+)\}$")
_UNIT_IN = 1.15          # inches between neighbouring nodes
_NODE_R = 0.27           # node radius, in node spacings
_LABEL_FONT = 8.0
_LABEL_H = 0.21          # label box height, in node spacings
_LEVEL_STEP = 0.24       # how much higher the next candidate label position is


def node_sort_key(label: str) -> tuple:
  """Inputs first (``c_{k-2}`` before ``c_{k-1}``), then numbered nodes, others, the output."""
  m = _INPUT.match(label)
  if m:
    return (0, -int(m.group(1)), "")
  if re.fullmatch(r"-?\d+", label):
    return (1, int(label), "")
  if label == "c_{k}":
    return (3, 0, "")
  return (2, 0, label)


def _text(label: str) -> str:
  # 'c_{k-1}' is TeX: render it as math so the subscript shows.
  return f"${label}$" if label.startswith("c_{") else label


def _label_width(op: str) -> float:
  # DejaVu Sans averages ~0.6 em per character for these lowercase/digit/underscore names.
  return (0.6 * _LABEL_FONT * len(op) + 6) / 72 / _UNIT_IN


def _overlaps(a, b) -> bool:
  (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a, b
  return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1


def _min_height(span: float) -> float:
  """Apex height that keeps an arc over ``span`` clear of the nodes it passes."""
  if span <= 1:
    return 0.32
  # The arc is a parabola 4h·u(1-u); at the first node it passes (u = 1/span) it must clear it.
  u = 1.0 / span
  return max(0.32, (_NODE_R + 0.2) / (4 * u * (1 - u)))


def _layout_cell(edges: Sequence[tuple[str, str, str]]):
  """Node x positions and, per edge, the apex height (signed: + above) of its arc."""
  nodes = sorted({n for e in edges for n in e[:2]}, key=node_sort_key)
  x = {n: float(i) for i, n in enumerate(nodes)}
  obstacles = [(x[n] - _NODE_R - 0.2, -_NODE_R - 0.05, x[n] + _NODE_R + 0.2, _NODE_R + 0.05)
               for n in nodes]
  placed: list[tuple] = []
  sides_used = {1: 0, -1: 0}
  heights: dict[int, float] = {}
  # Short arcs first, so they sit low and longer arcs nest above them.
  order = sorted(range(len(edges)), key=lambda i: (not edges[i][2],
                                                    abs(x[edges[i][1]] - x[edges[i][0]]),
                                                    x[edges[i][0]]))
  for i in order:
    src, dst, op = edges[i]
    span = abs(x[dst] - x[src])
    mid = (x[src] + x[dst]) / 2
    if op:
      half_w, half_h = _label_width(op) / 2, _LABEL_H / 2
    else:
      # An unlabelled arc reserves its whole span at its apex height, so such arcs nest at
      # distinct heights instead of running on top of one another.
      half_w, half_h = span / 2 - _NODE_R, 0.06
    sides = sorted((1, -1), key=lambda s: sides_used[s])
    choice = None
    for level in range(60):
      h = _min_height(span) + level * _LEVEL_STEP / (1 if op else 2)
      for side in sides:
        box = (mid - half_w, side * h - half_h, mid + half_w, side * h + half_h)
        if not any(_overlaps(box, other) for other in placed + obstacles):
          choice = (side * h, box)
          break
      if choice:
        break
    if choice is None:  # nothing free in range (hundreds of edges): stack above everything
      h = _min_height(span) + 60 * _LEVEL_STEP
      choice = (h, (mid - half_w, h - half_h, mid + half_w, h + half_h))
    heights[i] = choice[0]
    sides_used[1 if choice[0] > 0 else -1] += 1
    placed.append(choice[1])
  return nodes, x, heights


def _draw_cell(fig, rect, name: str, edges, nodes, x, heights, y_lo: float, y_hi: float):
  ax = fig.add_axes(rect)
  ax.set_xlim(-0.6, len(nodes) - 0.4)
  ax.set_ylim(y_lo, y_hi)
  ax.set_axis_off()
  ax.set_title(name, fontsize=10, loc="left")
  patches = {}
  for n in nodes:
    if node_sort_key(n)[0] == 1:
      patch = Circle((x[n], 0), _NODE_R, fc="#bbdefb", ec="#0d47a1", lw=1.2, zorder=3)
    else:
      fill = "#c8e6c9" if _INPUT.match(n) else "#ffe0b2" if n == "c_{k}" else "#eeeeee"
      w = 0.78  # room for 'c_{k-2}' with a gap to the next node
      patch = FancyBboxPatch((x[n] - w / 2, -_NODE_R * 0.8), w, 1.6 * _NODE_R,
                             boxstyle="round,pad=0.02,rounding_size=0.12", fc=fill, ec="#37474f",
                             lw=1.2, zorder=3)
    ax.add_patch(patch)
    patches[n] = patch
    ax.text(x[n], 0, _text(n), ha="center", va="center", fontsize=10, zorder=4)
  for i, (src, dst, op) in enumerate(edges):
    dx = x[dst] - x[src]
    if dx == 0:
      continue
    h = heights[i]
    # arc3 bends by rad·(dy, -dx) at the control point; the apex is half of that.
    rad = -2 * h / dx
    color = _op_color(op) if op else "#90a4ae"
    arrow = FancyArrowPatch((x[src], 0), (x[dst], 0), connectionstyle=f"arc3,rad={rad:.4f}",
                            arrowstyle="-|>", mutation_scale=11, lw=1.4 if op else 1.0,
                            color=color, linestyle="-" if op else (0, (3, 2)),
                            patchA=patches[src], patchB=patches[dst], zorder=2)
    ax.add_patch(arrow)
    if op:
      ax.text((x[src] + x[dst]) / 2, h, op, ha="center", va="center", fontsize=_LABEL_FONT,
              color=color, zorder=5,
              bbox=dict(boxstyle="round,pad=0.18", fc="white", ec=color, lw=0.8))
  return ax


def plot_cell(cells: Mapping[str, Sequence[tuple[str, str, str]]], path: str,
              title: str | None = None) -> str:
  """Diagrams of cells as DAGs, one panel per cell type, stacked.

  Nodes sit on a line, inputs left and output right; each edge is an arc labelled with its op,
  placed so that no two labels overlap.

  Args:
    cells: cell type -> ``(src, dst, op)`` edges with node labels such as ``"c_{k-2}"``,
      ``"c_{k-1}"``, ``"0"``, ``"c_{k}"``; ``op == ""`` draws an unlabelled (dashed) edge, e.g. the
      concatenation into the output.
    path: the image file; the format follows its extension.
    title: a title above the panels.

  Returns:
    ``path``.
  """
  layouts = []
  for name, edges in cells.items():
    edges = [(str(s), str(d), str(op or "")) for s, d, op in edges]
    nodes, x, heights = _layout_cell(edges)
    top = max([h + _LABEL_H for h in heights.values() if h > 0] + [_NODE_R]) + 0.15
    bottom = min([h - _LABEL_H for h in heights.values() if h < 0] + [-_NODE_R]) - 0.15
    layouts.append((name, edges, nodes, x, heights, bottom, top))
  if not layouts:
    raise ValueError("plot_cell needs at least one cell")
  title_h = 0.45 if title else 0.0
  panel_title_h = 0.3
  width_units = max(len(layout[2]) for layout in layouts)
  margin = 0.15  # inches on either side, so panel titles are not cut
  fig_w = width_units * _UNIT_IN + 2 * margin
  heights_in = [(top - bottom) * _UNIT_IN + panel_title_h for *_, bottom, top in layouts]
  fig_h = sum(heights_in) + title_h
  fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
  y = fig_h - title_h
  for (name, edges, nodes, x, heights, bottom, top), h_in in zip(layouts, heights_in):
    y -= h_in
    # Axes in inches, so one node spacing is _UNIT_IN on both axes and arcs are round.
    ax_w = len(nodes) * _UNIT_IN
    rect = (margin / fig_w, y / fig_h, ax_w / fig_w, (h_in - panel_title_h) / fig_h)
    _draw_cell(fig, rect, name, edges, nodes, x, heights, bottom, top)
  if title:
    fig.suptitle(title, fontsize=11, y=1 - 0.1 / fig_h, va="top")
  atomic_savefig(fig, path, dpi=DPI)
  return path


# ---------------------------------------------------------------------------------------------
# Curves

_SKIP_KEYS = ("step", "time", "epoch_seconds")


def _group(key: str) -> str:
  low = key.lower()
  if "loss" in low:
    return "loss"
  if "acc" in low:
    return "accuracy"
  return "other"


def plot_curves(metrics_jsonl_path: str, path: str, keys: Sequence[str] | None = None) -> str:
  """Metrics over steps from a run's metrics.jsonl: losses, accuracies and the rest in panels.

  Args:
    metrics_jsonl_path: the file :meth:`base_nas.runs.Run.log` writes.
    path: the image file; the format follows its extension.
    keys: the metrics to draw (default: every numeric metric).

  Returns:
    ``path``.
  """
  rows = read_metrics(metrics_jsonl_path)
  series: dict[str, tuple[list, list]] = {}
  for row in rows:
    for key, value in row.items():
      if key in _SKIP_KEYS or (keys is not None and key not in keys):
        continue
      if isinstance(value, (int, float)) and not isinstance(value, bool):
        steps, values = series.setdefault(key, ([], []))
        steps.append(row["step"])
        values.append(float(value))
  if keys is not None:
    missing = [k for k in keys if k not in series]
    if missing:
      raise ValueError(f"{metrics_jsonl_path} has no numeric metric {missing[0]!r}; it has "
                       f"{sorted(series) or 'none'}")
  groups: dict[str, list[str]] = {}
  for key in series:
    groups.setdefault(_group(key), []).append(key)
  names = [g for g in ("loss", "accuracy", "other") if g in groups] or ["no metrics"]
  fig = Figure(figsize=(5.0 * len(names), 3.6), dpi=DPI)
  axes = fig.subplots(1, len(names), squeeze=False)[0]
  for ax, group in zip(axes, names):
    for key in groups.get(group, []):
      steps, values = (np.asarray(v) for v in series[key])
      if len(steps) > 50:
        # Per-step values are noisy: draw them faintly under a moving average.
        line, = ax.plot(steps, values, lw=0.6, alpha=0.3)
        k = max(len(values) // 25, 2)
        smooth = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], smooth, lw=1.5, color=line.get_color(), label=key)
      else:
        ax.plot(steps, values, marker="o", ms=3, lw=1.3, label=key)
    ax.set_title(group, fontsize=10)
    ax.set_xlabel("step", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if groups.get(group):
      ax.legend(fontsize=7, frameon=False)
  fig.tight_layout()
  atomic_savefig(fig, path, dpi=DPI)
  return path


__all__ = ["plot_arch_weights", "plot_cell", "plot_curves", "node_sort_key"]
