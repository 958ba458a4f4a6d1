"""The evaluation protocol of ``engage eval-alerts`` (services/alerts/evaluate.py): manifest and anchor
parsing, the folds (choice inside training series only), bootstrap intervals, on a fake detector."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.alerts.evaluate import (
    ALL,
    ALL_NON_TWEET,
    TWEETS,
    Metrics,
    bootstrap_interval,
    eval_alerts_command,
    evaluate_protocols,
    folds_for,
    load_manifest,
    parse_anchors,
    pooled,
    run_protocol,
    select,
)
from services.alerts.spike import TUNING_GRID, SpikeConfig

T0 = datetime(2026, 3, 2, tzinfo=UTC)
STEP = timedelta(minutes=5)

README = """# A dev set

| category | series | windows |
|---|---|---|
| realTweets | five | 15 |

## Published NAB detectors on this set
Scored with the window rule.

| detector | realTweets (5) | realKnownCause | all non-tweet | all 31 |
|---|---|---|---|---|
| contextOSE | 0.63 (11/15, 9) | 0.33 (3/6, 9) | 0.58 (42/53, 51) | 0.59 (53/68, 60) |
| ARTime | 0.45 (15/15, 36) | n/a | 0.49 (47/53, 90) | 0.48 (62/68, 126) |

contextOSE scales each file by its global minimum and maximum.
"""


def test_parse_anchors_reads_the_published_table() -> None:
    anchors = parse_anchors(README)
    assert set(anchors) == {"contextOSE", "ARTime"}
    ose = anchors["contextOSE"]
    assert set(ose) == {TWEETS, "realKnownCause", ALL_NON_TWEET, ALL}
    assert ose[ALL].f1 == 0.59 and ose[ALL].metrics == Metrics(windows=68, caught=53, false_alarms=60)
    assert ose[TWEETS].metrics == Metrics(windows=15, caught=11, false_alarms=9)
    assert "realKnownCause" not in anchors["ARTime"]  # a cell in another shape is skipped
    # the printed F1 is the one the counts give under our scorer
    for rows in anchors.values():
        for a in rows.values():
            assert a.metrics.f1 == pytest.approx(a.f1, abs=0.006)


def test_the_dev_set_readme_anchors_match_their_counts() -> None:
    readme = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab_devset" / "README.md"
    if not readme.exists():
        pytest.skip("the NAB dev set is not on this machine")
    anchors = parse_anchors(readme.read_text())
    assert {"contextOSE", "ARTime"} <= set(anchors)
    assert anchors["contextOSE"][ALL].metrics.windows == 68
    for rows in anchors.values():
        assert {TWEETS, ALL_NON_TWEET, ALL} <= set(rows)
        for a in rows.values():
            assert a.metrics.f1 == pytest.approx(a.f1, abs=0.006)


def test_load_manifest_keys_on_file_names_and_needs_categories(tmp_path: Path) -> None:
    assert load_manifest(tmp_path) is None
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {"realTweets/a.csv": {"category": "realTweets", "kind": "count"}, "b.csv": {"category": "x"}}
        )
    )
    assert load_manifest(tmp_path) == {"a.csv": "realTweets", "b.csv": "x"}
    (tmp_path / "manifest.json").write_text(json.dumps({"c.csv": {"kind": "rate"}}))
    with pytest.raises(ValueError, match=r"c\.csv"):
        load_manifest(tmp_path)


def m(caught: int, windows: int, false_alarms: int) -> Metrics:
    return Metrics(windows=windows, caught=caught, false_alarms=false_alarms)


CATEGORIES = ["realTweets", "realTweets", "cpu", "cpu", "ads"]
# Grid point 0 is perfect on tweets and poor elsewhere; point 1 the other way round.
MATRIX = [
    [m(3, 3, 0), m(2, 2, 0), m(0, 2, 5), m(0, 2, 4), m(1, 2, 3)],
    [m(1, 3, 4), m(0, 2, 3), m(2, 2, 0), m(2, 2, 1), m(2, 2, 0)],
]


def test_select_uses_only_the_training_series_and_breaks_ties_by_grid_order() -> None:
    assert select(MATRIX, [0, 1]) == 0
    assert select(MATRIX, [2, 3, 4]) == 1
    assert select([[m(1, 1, 0)], [m(1, 1, 0)]], [0]) == 0


def test_folds_never_train_on_what_they_score() -> None:
    for protocol in ("loco", "without-tweets"):
        for _, train, test in folds_for(protocol, CATEGORIES):
            assert not set(train) & set(test)
            assert {CATEGORIES[i] for i in test}.isdisjoint({CATEGORIES[i] for i in train})
    loco = folds_for("loco", CATEGORIES)
    assert sorted(i for _, _, test in loco for i in test) == list(range(len(CATEGORIES)))
    assert [held for held, _, _ in loco] == ["ads", "cpu", "realTweets"]
    assert folds_for("insample", CATEGORIES) == [(ALL, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4])]
    with pytest.raises(ValueError):
        folds_for("loco", ["one", "one"])
    with pytest.raises(ValueError):
        folds_for("without-tweets", ["cpu", "ads"])
    with pytest.raises(ValueError):
        folds_for("bogus", CATEGORIES)


def test_without_tweets_scores_tweets_with_the_point_chosen_elsewhere() -> None:
    r = run_protocol("without-tweets", CATEGORIES, MATRIX, samples=200)
    assert [(f.held_out, f.point) for f in r.folds] == [(TWEETS, 1)]
    assert sorted(r.scored) == [0, 1] and all(point == 1 for point, _ in r.scored.values())
    assert [row.label for row in r.rows] == [TWEETS]
    assert r.rows[0].metrics == m(1, 5, 7)


def test_loco_pools_the_held_out_scores() -> None:
    r = run_protocol("loco", CATEGORIES, MATRIX, samples=200)
    chosen = {f.held_out: f.point for f in r.folds}
    # tweets held out: the other series prefer point 1; cpu held out: tweets and ads prefer point 0
    assert (chosen[TWEETS], chosen["cpu"], chosen["ads"]) == (1, 0, 1)
    for i, (point, metrics) in r.scored.items():
        assert point == chosen[CATEGORIES[i]] and metrics == MATRIX[point][i]
    rows = {row.label: row for row in r.rows}
    assert set(rows) == {"ads", "cpu", TWEETS, ALL_NON_TWEET, ALL}
    assert rows[ALL].metrics == pooled([metrics for _, metrics in r.scored.values()])
    assert rows[ALL_NON_TWEET].metrics == pooled([r.scored[i][1] for i in (2, 3, 4)])
    # in-sample picks one point for everything, and is never worse than loco on the pooled F1
    insample = run_protocol("insample", CATEGORIES, MATRIX, samples=200)
    assert insample.rows[-1].label == ALL
    assert insample.rows[-1].metrics.f1 >= rows[ALL].metrics.f1


def test_bootstrap_is_deterministic_and_brackets_the_pooled_f1() -> None:
    series = [m(1, 2, 1), m(2, 2, 0), m(0, 1, 3), m(3, 4, 2), m(1, 1, 0), m(0, 2, 1)]
    a = bootstrap_interval(series, samples=500, seed=1)
    assert a == bootstrap_interval(series, samples=500, seed=1)
    assert a != bootstrap_interval(series, samples=500, seed=2)
    assert a[0] < pooled(series).f1 < a[1]
    assert bootstrap_interval([m(1, 1, 0)] * 5, samples=100) == (1.0, 1.0)  # no spread, no width
    assert bootstrap_interval([]) == (0.0, 0.0)


# --- end to end on tiny synthetic series with a fake detector -------------------------------------------


def fake_detector(rows: list[tuple[datetime, float]], params: dict[str, float]) -> list[datetime]:
    """Fires on every point at or above ``threshold``."""
    return [ts for ts, value in rows if value >= params["threshold"]]


def write(path: Path, values: list[float]) -> None:
    lines = ["timestamp,value"] + [f"{T0 + i * STEP:%Y-%m-%d %H:%M:%S},{v:g}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")


def test_evaluate_protocols_end_to_end(tmp_path: Path) -> None:
    # tweets: spikes of 5 (labelled) on a background that reaches 3; cpu: spikes of 9 on a background
    # of 6 (unlabelled bumps at 6). Threshold 4 is right for tweets, 8 for cpu.
    fmt = "%Y-%m-%d %H:%M:%S"
    span = [(T0 + 10 * STEP).strftime(fmt), (T0 + 12 * STEP).strftime(fmt)]
    windows = {}
    manifest = {}
    for name, category, spike, bump in (
        ("t1.csv", "realTweets", 5.0, 3.0),
        ("t2.csv", "realTweets", 5.0, 3.0),
        ("c1.csv", "cpu", 9.0, 6.0),
        ("c2.csv", "cpu", 9.0, 6.0),
    ):
        values = [1.0] * 40
        values[11] = spike
        values[30] = bump
        write(tmp_path / name, values)
        windows[name] = [span]
        manifest[name] = {"category": category}
    (tmp_path / "anomaly_windows.json").write_text(json.dumps(windows))
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "README.md").write_text(README)
    grid = [{"threshold": 4.0}, {"threshold": 8.0}]

    ev = evaluate_protocols(tmp_path, grid=grid, detector=fake_detector, workers=1, samples=100)

    by = {r.protocol: r for r in ev.results}
    assert ev.names == ["c1.csv", "c2.csv", "t1.csv", "t2.csv"]
    assert ev.matrix[0] == [m(1, 1, 1), m(1, 1, 1), m(1, 1, 0), m(1, 1, 0)]
    assert ev.matrix[1] == [m(1, 1, 0), m(1, 1, 0), m(0, 1, 0), m(0, 1, 0)]
    # tuned on cpu only, the threshold misses every tweet spike: the protocol cannot flatter
    assert by["without-tweets"].rows[0].metrics == m(0, 2, 0)
    loco = {row.label: row.metrics for row in by["loco"].rows}
    assert loco[TWEETS] == m(0, 2, 0) and loco["cpu"] == m(2, 2, 2)
    assert by["insample"].rows[-1].metrics.f1 > loco[ALL].f1
    assert ev.anchors["contextOSE"][TWEETS].f1 == 0.63


def test_the_command_writes_results_and_prints_anchors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = tmp_path / "series"
    series.mkdir()
    values = [10.0] * (3 * 288)
    write(series / "a.csv", values)
    write(series / "b.csv", values)
    (series / "anomaly_windows.json").write_text(json.dumps({"a.csv": [], "b.csv": []}))
    (series / "manifest.json").write_text(
        json.dumps({"a.csv": {"category": "realTweets"}, "b.csv": {"category": "cpu"}})
    )
    (series / "README.md").write_text(README)
    results = tmp_path / "res" / "alerts_eval"
    eval_alerts_command(series, tmp_path / "out", ["all"], results, workers=1)
    printed = capsys.readouterr().out
    assert "Protocol loco" in printed and "contextOSE" in printed
    data = json.loads(results.with_suffix(".json").read_text())
    assert set(data["protocols"]) == {"insample", "loco", "without-tweets"}
    assert len(data["grid"]) == len(TUNING_GRID)
    assert data["anchors"]["ARTime"][ALL]["published_f1"] == 0.48
    assert "## without-tweets" in results.with_suffix(".md").read_text()


def test_the_tuning_grid_names_real_config_fields() -> None:
    names = set(SpikeConfig.__dataclass_fields__)
    assert TUNING_GRID and all(set(point) <= names for point in TUNING_GRID)
    assert len({json.dumps(p, sort_keys=True) for p in TUNING_GRID}) == len(TUNING_GRID)
