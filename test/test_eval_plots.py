"""Plots: the lines drawn are the curves given, ranked by score, with the score in the legend."""
import numpy as np
import pytest

from had_ros.eval import metrics, plots


def scores(shift: float, n: int = 40, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    gt = np.column_stack([rng.uniform(0, 200, n), rng.uniform(0, 200, n), np.full(n, 40.0), np.full(n, 30.0)])
    return metrics.evaluate(gt + [shift, 0, 0, 0] + rng.normal(0, 2, (n, 4)) * [1, 1, 0, 0], gt)


@pytest.mark.parametrize("kind,x_key,y_key,name", [
    ("success", "overlap_thresholds", "success_curve", "AUC"),
    ("precision", "error_thresholds", "precision_curve", "P@20"),
    ("norm_precision", "norm_error_thresholds", "norm_precision_curve", "NP@0.2"),
])
def test_figure_draws_the_curves_best_first_with_scores(kind, x_key, y_key, name):
    good, bad = scores(1.0), scores(15.0, seed=1)
    fig = plots.make_figure(kind, [("bad", bad), ("good", good)],
                            reference=("all", metrics.average([good, bad])))
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    score_key = plots.KINDS[kind][2]
    assert texts[0] == f"good [{name} {good[score_key]:.1f}]"
    assert texts[1] == f"bad [{name} {bad[score_key]:.1f}]"
    assert texts[2].startswith("all [")
    np.testing.assert_allclose(ax.lines[0].get_xdata(), good[x_key])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), good[y_key])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), bad[y_key])
    assert ax.lines[2].get_linestyle() == "--" and ax.lines[2].get_color() == "k"
    assert ax.get_xlim() == (good[x_key][0], good[x_key][-1])
    plots.plt.close(fig)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="plot kind 'roc'"):
        plots.make_figure("roc", [])


def test_write_plots_writes_pngs(tmp_path):
    s = scores(3.0)
    avg = metrics.average([s, scores(9.0, seed=2)])
    attrs = {"hdr": metrics.average([s])}
    paths = plots.write_plots(tmp_path, "m", avg, attrs)
    assert sorted(p.name for p in paths) == sorted([
        "success.png", "precision.png", "norm_precision.png", "success_attributes.png",
        "precision_attributes.png"])
    for p in paths:
        assert p.read_bytes()[:4] == b"\x89PNG"
    single = [p.name for p in plots.write_plots(tmp_path / "b", "m", avg)]
    assert single == ["success.png", "precision.png", "norm_precision.png"]
