"""Success, precision and normalised-precision plots (OTB style) as PNG files.

Each plot takes ``curves``: a list of (label, scores) pairs where scores is a dict from
had_ros.eval.metrics (evaluate or average), and draws one line per pair, best first in the legend,
with the headline score in brackets. ``reference`` adds one black dashed line (e.g. the whole
dataset on a per-attribute plot).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

Curves = Sequence[tuple[str, dict[str, Any]]]
Reference = tuple[str, dict[str, Any]] | None

# kind -> (x key, y key, score key, score name, x label, y label, default title, legend place, marker)
KINDS: dict[str, tuple[str, str, str, str, str, str, str, str, float | None]] = {
    "success": ("overlap_thresholds", "success_curve", "success_auc", "AUC", "Overlap threshold",
                "Success rate", "Success plot of OPE", "lower left", None),
    "precision": ("error_thresholds", "precision_curve", "precision_20", "P@20",
                  "Location error threshold (px)", "Precision", "Precision plot of OPE",
                  "lower right", 20.0),
    "norm_precision": ("norm_error_thresholds", "norm_precision_curve", "norm_precision_20", "NP@0.2",
                       "Normalized location error threshold", "Normalized precision",
                       "Normalized precision plot of OPE", "lower right", 0.2),
}


def make_figure(kind: str, curves: Curves, title: str | None = None,
                reference: Reference = None) -> Figure:
    """The figure of one plot kind ("success", "precision", "norm_precision")."""
    if kind not in KINDS:
        raise ValueError(f"plot kind {kind!r}: expected one of {sorted(KINDS)}")
    x_key, y_key, score_key, score_name, xlabel, ylabel, default_title, loc, marker = KINDS[kind]
    ranked = sorted(curves, key=lambda c: c[1][score_key], reverse=True)
    # beyond a few lines an inside legend hides the curves: put it to the right of the axes
    outside = len(ranked) + (reference is not None) > 4
    fig, ax = plt.subplots(figsize=(8.4 if outside else 5.6, 4.4), dpi=120)
    for i, (label, res) in enumerate(ranked):
        style = "-" if i < 10 else "--"  # the default colour cycle repeats after 10
        ax.plot(res[x_key], res[y_key], style, linewidth=2,
                label=f"{label} [{score_name} {res[score_key]:.1f}]")
    if reference is not None:
        label, res = reference
        ax.plot(res[x_key], res[y_key], "k--", linewidth=1.5,
                label=f"{label} [{score_name} {res[score_key]:.1f}]")
        ranked = [reference, *ranked]
    if marker is not None:
        ax.axvline(marker, color="0.6", linewidth=0.8, linestyle=":")
    xs = ranked[0][1][x_key] if ranked else [0.0, 1.0]
    ax.set(xlim=(xs[0], xs[-1]), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel,
           title=title or default_title)
    ax.grid(True, alpha=0.3)
    if outside:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    else:
        ax.legend(loc=loc, fontsize=8, framealpha=0.85)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def success_plot(curves: Curves, path: Path, title: str | None = None,
                 reference: Reference = None) -> Path:
    """Success rate vs overlap threshold, AUC in the legend."""
    return save_figure(make_figure("success", curves, title, reference), path)


def precision_plot(curves: Curves, path: Path, title: str | None = None,
                   reference: Reference = None) -> Path:
    """Precision vs location error threshold (px), P@20 in the legend."""
    return save_figure(make_figure("precision", curves, title, reference), path)


def norm_precision_plot(curves: Curves, path: Path, title: str | None = None,
                        reference: Reference = None) -> Path:
    """Normalised precision vs normalised location error threshold, NP@0.2 in the legend."""
    return save_figure(make_figure("norm_precision", curves, title, reference), path)


def write_plots(out_dir: Path, label: str, scores: dict[str, Any],
                attributes: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    """The standard plot set of one evaluation: success/precision/normalised precision of the
    whole dataset and, with ``attributes``, one line per attribute (number of sequences in brackets)
    on success/precision plots with the whole dataset as a black dashed line."""
    out_dir = Path(out_dir)
    written = [
        success_plot([(label, scores)], out_dir / "success.png"),
        precision_plot([(label, scores)], out_dir / "precision.png"),
        norm_precision_plot([(label, scores)], out_dir / "norm_precision.png"),
    ]
    if attributes:
        per_attr = [(f"{a} ({s['num_sequences']})", s) for a, s in attributes.items()]
        everything = (f"all ({scores['num_sequences']})", scores)
        written.append(success_plot(per_attr, out_dir / "success_attributes.png",
                                    f"Success by attribute: {label}", reference=everything))
        written.append(precision_plot(per_attr, out_dir / "precision_attributes.png",
                                      f"Precision by attribute: {label}", reference=everything))
    return written
