"""SpikeDetector (services/alerts/spike.py) and its offline evaluator (services/alerts/evaluate.py)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.alerts.evaluate import (
    Metrics,
    detect,
    eval_alerts_command,
    evaluate_dir,
    load_windows,
    read_series,
    score_alerts,
)
from services.alerts.signals import Fired, close_final, new_signal
from services.alerts.spike import SpikeConfig, SpikeDetector, Transition

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
STEP = timedelta(minutes=5)
DAY = 288  # buckets per day

Series = list[tuple[datetime, float]]


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's Poisson sampler (fine for the small means used here)."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def seasonal_mean(i: int) -> float:
    """Mentions per 5 min: a daily cycle (x3 between night and day) and quiet weekends (40 %)."""
    t = T0 + i * STEP
    daily = 1.0 + 0.5 * math.sin(2 * math.pi * (t.hour * 60 + t.minute) / 1440 - math.pi / 2)
    weekly = 0.4 if t.weekday() >= 5 else 1.0
    return 40.0 * daily * weekly


def seasonal_series(days: int, seed: int = 7) -> Series:
    rng = random.Random(seed)
    return [(T0 + i * STEP, float(poisson(rng, seasonal_mean(i)))) for i in range(days * DAY)]


def with_spike(series: Series, start: int, length: int = 4, factor: float = 8.0) -> Series:
    out = list(series)
    for i in range(start, start + length):
        ts, _ = out[i]
        out[i] = (ts, round(seasonal_mean(i) * factor))
    return out


def run(series: Series, config: SpikeConfig | None = None) -> list[Transition]:
    detector = SpikeDetector(config)
    transitions: list[Transition] = []
    for ts, value in series:
        transitions.extend(detector.update(ts, value))
    return transitions


SPIKE_AT = 10 * DAY + 14 * 12  # day 10 (a Thursday), 14:00 UTC


@pytest.fixture(scope="module")
def quiet() -> Series:
    return seasonal_series(days=16)


@pytest.fixture(scope="module")
def spiky(quiet: Series) -> Series:
    return with_spike(quiet, SPIKE_AT)


# --- detector behaviour ---------------------------------------------------------------------------------


def test_seasonal_poisson_noise_raises_no_alert(quiet: Series) -> None:
    # 16 days with a x3 daily cycle and weekends at 40 %: the baseline must follow both
    assert run(quiet) == []


def test_injected_spike_fires_once_then_resolves(spiky: Series) -> None:
    transitions = run(spiky)
    assert [t.kind for t in transitions] == ["fire", "resolve"]
    fire, resolve = transitions
    spike_start = spiky[SPIKE_AT][0]
    assert spike_start <= fire.timestamp < spike_start + 4 * STEP
    assert fire.observed > 3 * fire.expected and fire.score >= SpikeConfig().fire_z
    assert resolve.timestamp > fire.timestamp and resolve.timestamp <= spike_start + timedelta(hours=2)
    assert resolve.severity == fire.severity


def test_severity_grows_with_the_excess(quiet: Series) -> None:
    assert run(with_spike(quiet, SPIKE_AT, factor=2.0)) == []  # a x2 bump for 20 min is not an alert
    mild = run(with_spike(quiet, SPIKE_AT, length=8, factor=4.0))  # x4 for 40 min: ~2.7 h of traffic
    huge = run(with_spike(quiet, SPIKE_AT, factor=30.0))
    assert [(t.kind, t.severity) for t in mild] == [("fire", "warning"), ("resolve", "warning")]
    assert [(t.kind, t.severity) for t in huge] == [("fire", "critical"), ("resolve", "critical")]


def test_no_alert_during_warm_up(quiet: Series) -> None:
    early = with_spike(quiet, DAY // 2, factor=30.0)  # noon of the first day: no profile yet
    assert run(early) == []
    day_two = with_spike(quiet, DAY + DAY // 2, factor=30.0)  # noon of the second day
    assert [t.kind for t in run(day_two)][:1] == ["fire"]
    assert run(day_two, replace(SpikeConfig(), warmup_seconds=3 * 86400.0)) == []


def low_counts() -> Series:
    rng = random.Random(3)
    series = [(T0 + i * STEP, float(rng.choice([0, 0, 0, 1, 1, 2, 3]))) for i in range(4 * DAY)]
    jump = 3 * DAY + 100
    series[jump] = (series[jump][0], 6.0)
    return series


def test_low_counts_jump_to_six_raises_no_alert() -> None:
    series = low_counts()
    assert run(series) == []
    # relative to its own wobble between 0 and 3 (a scale learned from the series), a 6 is far from a spike
    detector = SpikeDetector()
    jump = 3 * DAY + 100
    for ts, value in series[: jump + 1]:
        detector.update(ts, value)
    assert detector.last_scores[0] < SpikeConfig().fire_z / 2


def test_expected_level_is_the_series_mean(quiet: Series) -> None:
    detector = SpikeDetector()
    for ts, value in quiet[: 10 * DAY + 12 * 12]:  # up to Thursday noon of the second week
        detector.update(ts, value)
    weekly_mean = sum(seasonal_mean(i) for i in range(7 * DAY)) / (7 * DAY)  # 40 on weekdays, 16 on weekends
    assert detector.expected_level() == pytest.approx(weekly_mean, rel=0.1)
    restored = SpikeDetector.from_state(json.loads(json.dumps(detector.to_state())))
    assert restored.expected_level() == pytest.approx(detector.expected_level())


def test_the_detector_is_scale_free(quiet: Series) -> None:
    # the same series in other units (x1000, x0.01: bytes, a rate) raises the same alerts at the same times
    series = with_spike(quiet, SPIKE_AT, factor=8.0)
    base = [(t.kind, t.timestamp, t.window_seconds) for t in run(series)]
    assert base and base[0][0] == "fire"
    for factor in (1000.0, 0.01):
        scaled = [(ts, v * factor) for ts, v in series]
        assert [(t.kind, t.timestamp, t.window_seconds) for t in run(scaled)] == base


def test_a_short_burst_that_adds_little_traffic_is_not_material(quiet: Series) -> None:
    # x6 for one bucket adds 200 mentions, under an hour of the brand's mean traffic (~31 per bucket)
    burst = with_spike(quiet, SPIKE_AT, length=1, factor=6.0)
    assert run(burst) == []
    assert [t.kind for t in run(burst, replace(SpikeConfig(), material_hours=0.0))] == ["fire", "resolve"]
    # x4 for 40 min adds about 3 h of it: material
    assert [t.kind for t in run(with_spike(quiet, SPIKE_AT, length=8, factor=4.0))] == ["fire", "resolve"]


def big_brand(days: int, seed: int = 5) -> Series:
    """400 mentions per 5 min (115,200 a day), Poisson: a series on which small excesses are significant."""
    rng = random.Random(seed)
    return [(T0 + i * STEP, float(round(rng.gauss(400.0, 20.0)))) for i in range(days * DAY)]


def test_materiality_is_relative_to_the_brand_volume() -> None:
    series = big_brand(days=5)
    at_spike = 4 * DAY + 14 * 12
    burst = list(series)
    for i in range(at_spike, at_spike + 3):  # +1,800 posts in 15 min: very unlikely, but 22 min of traffic
        burst[i] = (burst[i][0], burst[i][1] + 600.0)
    assert run(series) == [] and run(burst) == []
    fires = [t for t in run(burst, replace(SpikeConfig(), material_hours=0.0)) if t.kind == "fire"]
    assert len(fires) == 1 and fires[0].score >= SpikeConfig().fire_z
    # on a brand 40x smaller the same 1,800 extra posts are an alert with the default config
    small = [(ts, float(round(v / 40.0))) for ts, v in series]
    for i in range(at_spike, at_spike + 3):
        small[i] = (small[i][0], small[i][1] + 600.0)
    assert [t.kind for t in run(small) if t.kind == "fire"] == ["fire"]


def test_a_state_of_another_version_restarts_the_warm_up(spiky: Series) -> None:
    detector = SpikeDetector()
    for ts, value in spiky[: SPIKE_AT - 12]:
        detector.update(ts, value)
    state = detector.to_state()
    assert SpikeDetector.resume(state).to_state() == state  # the current version continues
    old = {"version": 1, "profile": [[1.0]] * 24, "episode_excess": 3.0}  # a state of the earlier model
    with pytest.raises(ValueError):
        SpikeDetector.from_state(old)
    restarted = SpikeDetector.resume(old)
    assert restarted.to_state() == SpikeDetector().to_state()
    # warming up again: the spike that follows is inside the new warm-up, so it raises nothing
    assert [t for ts, value in spiky[SPIKE_AT - 12 :] for t in restarted.update(ts, value)] == []
    assert SpikeDetector.resume(None).to_state() == SpikeDetector().to_state()


def test_a_stored_signal_with_an_older_detector_state_restarts_its_warm_up() -> None:
    # a signal stored by the alerts worker before the detector's state version changed
    signal = new_signal("brand", "complaints")
    signal["detector"] = {"version": 1, "profile": [[1.0]] * 24, "episode_excess": 0.0}
    signal["open"] = {str(b): [3, 10, {}] for b in range(1000, 1010)}
    signal["watermark"] = 1012 * 300 * 1000
    fired: list[Fired] = []
    close_final(signal, SpikeConfig(), 0.0, fired.append)
    state = signal["detector"]
    assert state["version"] == SpikeDetector().to_state()["version"]
    assert state["first_bucket"] == 1001 and state["last_bucket"] == 1012  # a fresh series from here on
    assert signal["closed"] == 1011 and fired == []


def test_cooldown_suppresses_a_second_spike_soon_after_resolve(quiet: Series) -> None:
    twice = with_spike(with_spike(quiet, SPIKE_AT), SPIKE_AT + 3 * 12)  # the same again 3 h later
    assert [t.kind for t in run(twice)] == ["fire", "resolve"]
    no_cooldown = replace(SpikeConfig(), cooldown_seconds=0)
    assert [t.kind for t in run(twice, no_cooldown)] == ["fire", "resolve", "fire", "resolve"]


def test_state_round_trip_mid_stream_gives_identical_transitions(spiky: Series) -> None:
    uninterrupted = run(spiky)
    for cut in (5 * DAY + 7, SPIKE_AT + 1, SPIKE_AT + 60):  # before, during and after the alert
        detector = SpikeDetector()
        transitions: list[Transition] = []
        for ts, value in spiky[:cut]:
            transitions.extend(detector.update(ts, value))
        state = json.loads(json.dumps(detector.to_state()))  # must be plain JSON
        restored = SpikeDetector.from_state(state)
        for ts, value in spiky[cut:]:
            transitions.extend(restored.update(ts, value))
        assert transitions == uninterrupted
        assert restored.to_state() == run_state(spiky)


def test_surprise_memory_survives_a_restart(spiky: Series) -> None:
    # four days after the x8 spike, a x4 one (20 min, material): significant on its own, but smaller
    # than the brand's recent surprise, so the record rule holds it back, also across a restart in between
    series = with_spike(spiky, SPIKE_AT + 4 * DAY, length=4, factor=4.0)
    assert [t.kind for t in run(series)] == ["fire", "resolve"]
    cut = SPIKE_AT + 2 * DAY
    detector = SpikeDetector()
    for ts, value in series[:cut]:
        detector.update(ts, value)
    state = json.loads(json.dumps(detector.to_state()))
    for restored, expected_fires in (
        (SpikeDetector.from_state(state), 0),
        (SpikeDetector.from_state({**state, "memory": [0.0, 0.0]}), 1),  # forgetful
    ):
        later = [t for ts, value in series[cut:] for t in restored.update(ts, value)]
        assert [t.kind for t in later].count("fire") == expected_fires
    assert state == json.loads(json.dumps(detector.to_state()))  # restoring does not alias the stored dict


def run_state(series: Series) -> dict[str, object]:
    detector = SpikeDetector()
    for ts, value in series:
        detector.update(ts, value)
    return detector.to_state()


def test_state_is_bounded() -> None:
    config = SpikeConfig()
    long_run = seasonal_series(days=36, seed=11)
    detector = SpikeDetector(config)
    sizes = []
    for i, (ts, value) in enumerate(long_run):
        detector.update(ts, value)
        if i in (22 * DAY, 36 * DAY - 1):
            sizes.append(len(json.dumps(detector.to_state())))
    state = detector.to_state()
    assert all(len(ring) <= config.season_days for ring in state["day"])
    assert len(state["day"]) == 86400 // config.slot_seconds
    assert all(len(ring) <= config.season_weeks for ring in state["week"])
    assert len(state["week"]) == 7 * 86400 // config.slot_seconds
    assert all(len(ring) <= config.scale_slots for ring in state["scale_rings"])
    assert len(state["recent"]) <= config.long_window
    assert sizes[1] <= sizes[0] * 1.05  # two more weeks of data, no growth


def test_from_state_rejects_foreign_state() -> None:
    with pytest.raises(ValueError):
        SpikeDetector.from_state({"version": 999})


def test_no_look_ahead(spiky: Series) -> None:
    full = run(spiky)
    assert full  # the prefixes below cut through an alert
    for cut in (SPIKE_AT, SPIKE_AT + 1, SPIKE_AT + 3, SPIKE_AT + 30, len(spiky) - 1):
        prefix_end = spiky[cut - 1][0]
        assert run(spiky[:cut]) == [t for t in full if t.timestamp <= prefix_end]


def test_late_and_duplicate_buckets_are_ignored(spiky: Series) -> None:
    detector = SpikeDetector()
    for ts, value in spiky[: SPIKE_AT + 2]:
        detector.update(ts, value)
    before = detector.to_state()
    assert detector.update(spiky[SPIKE_AT][0], 10_000) == []  # an older bucket
    assert detector.to_state() == before


# --- evaluator ------------------------------------------------------------------------------------------


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def test_score_alerts_counts_windows_and_clusters_false_alarms() -> None:
    windows = [(at(2), at(3)), (at(5), at(6)), (at(8), at(9))]
    fired = [
        at(2),  # on the first window's start bound: caught
        at(2.5),  # same window again: still one TP
        at(4),  # outside: false alarm 1
        at(4) + timedelta(minutes=40),  # within 1 h of the previous outside alert: same cluster
        at(4) + timedelta(minutes=90),  # 50 min after that one: still the same cluster (single linkage)
        at(7),  # outside: false alarm 2
        at(7) + timedelta(hours=2),  # two hours later: false alarm 3
        at(9),  # on the third window's end bound: caught
    ]
    m = score_alerts(fired, windows)
    assert (m.caught, m.missed, m.false_alarms) == (2, 1, 3)
    assert m.precision == pytest.approx(2 / 5) and m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(2 * (2 / 5) * (2 / 3) / (2 / 5 + 2 / 3))
    assert Metrics(windows=0, caught=0, false_alarms=0).f1 == 0.0


def write_series(path: Path, series: Series) -> None:
    lines = ["timestamp,value"] + [f"{ts:%Y-%m-%d %H:%M:%S},{value:g}" for ts, value in series]
    path.write_text("\n".join(lines) + "\n")


def test_evaluate_dir_scores_a_small_labelled_directory(tmp_path: Path, quiet: Series) -> None:
    series_dir, out_dir = tmp_path / "series", tmp_path / "out"
    series_dir.mkdir()
    # three growing spikes on Wed, Fri and next Tue at 14:00: the first inside window A, the others outside
    spikes = {2 * DAY + 14 * 12: 8.0, 4 * DAY + 14 * 12: 16.0, 8 * DAY + 14 * 12: 30.0}
    labelled = quiet[: 11 * DAY]
    for start, factor in spikes.items():
        labelled = with_spike(labelled, start, factor=factor)
    write_series(series_dir / "brand_a.csv", labelled)
    write_series(series_dir / "brand_b.csv", quiet[: 11 * DAY])  # no anomaly, no alert
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    starts = [quiet[i][0] for i in spikes]
    windows = {
        "realTweets/brand_a.csv": [  # NAB keys carry the corpus folder: matched on the file name
            [
                (starts[0] - timedelta(hours=12)).strftime(fmt),
                (starts[0] + timedelta(hours=12)).strftime(fmt),
            ],
            [at(9.2).strftime(fmt), at(9.8).strftime(fmt)],  # nothing happens there: missed
        ],
        "brand_b.csv": [],
    }
    (series_dir / "anomaly_windows.json").write_text(json.dumps(windows))

    report = evaluate_dir(series_dir, out_dir)

    by_name = {f.name: f for f in report.files}
    a, b = by_name["brand_a.csv"], by_name["brand_b.csv"]
    assert len(a.alerts) == 3
    for alert, spike_start in zip(a.alerts, starts, strict=True):  # each fires while its spike is on
        assert alert.kind == "fire" and spike_start <= alert.timestamp < spike_start + 4 * STEP
    assert a.metrics == Metrics(windows=2, caught=1, false_alarms=2)
    assert b.alerts == [] and b.metrics == Metrics(windows=0, caught=0, false_alarms=0)
    overall = report.overall
    assert overall == Metrics(windows=2, caught=1, false_alarms=2)
    assert (overall.precision, overall.recall) == (pytest.approx(1 / 3), pytest.approx(1 / 2))
    assert overall.f1 == pytest.approx(0.4)

    rows = (out_dir / "brand_a.csv").read_text().splitlines()
    assert rows[0].split(",")[:5] == ["timestamp", "severity", "observed", "expected", "score"]
    assert [r.split(",")[0] for r in rows[1:]] == [f"{t.timestamp:%Y-%m-%d %H:%M:%S}" for t in a.alerts]
    assert (out_dir / "brand_b.csv").read_text().splitlines() == [rows[0]]


def test_evaluate_dir_without_windows_only_writes_alerts(tmp_path: Path, spiky: Series) -> None:
    write_series(tmp_path / "x.csv", spiky)
    report = evaluate_dir(tmp_path, tmp_path / "out")
    assert report.overall is None and report.files[0].metrics is None
    assert len((tmp_path / "out" / "x.csv").read_text().splitlines()) == 2


def test_reader_and_detect_match_the_streaming_detector(tmp_path: Path, spiky: Series) -> None:
    write_series(tmp_path / "x.csv", list(reversed(spiky)))  # file order does not matter
    rows = read_series(tmp_path / "x.csv")
    assert rows == spiky
    assert detect(rows) == run(spiky)
    assert load_windows(tmp_path) is None


def test_eval_alerts_command_prints_the_table_and_f1(
    tmp_path: Path, quiet: Series, capsys: pytest.CaptureFixture[str]
) -> None:
    write_series(tmp_path / "x.csv", with_spike(quiet, SPIKE_AT))
    spike = quiet[SPIKE_AT][0]
    fmt = "%Y-%m-%d %H:%M:%S"
    windows = {
        "x.csv": [[(spike - timedelta(hours=1)).strftime(fmt), (spike + timedelta(hours=1)).strftime(fmt)]]
    }
    (tmp_path / "anomaly_windows.json").write_text(json.dumps(windows))
    eval_alerts_command(series_dir=tmp_path, out=tmp_path / "out")
    printed = capsys.readouterr().out
    assert "x.csv" in printed and "overall F1 = 1.000" in printed


# --- recall vs spike size and false alarms per week, on simulated brand traffic ----------------------------


def brand_traffic(per_day: float, days: int, seed: int) -> Series:
    """Poisson messages per 5 min for a brand with ``per_day`` messages on an average weekday: a x3 daily
    cycle and weekends at 40 %, like ``seasonal_mean``."""
    rng = random.Random(seed)
    scale = per_day / (40.0 * DAY)
    out = []
    for i in range(days * DAY):
        lam = seasonal_mean(i) * scale
        # Knuth's sampler is slow for large means: a rounded normal is as good there
        value = poisson(rng, lam) if lam < 30 else max(0, round(rng.gauss(lam, math.sqrt(lam))))
        out.append((T0 + i * STEP, float(value)))
    return out


BRANDS = {"small": 50.0, "large": 50_000.0}  # messages per weekday
SPIKE_STARTS = [
    d * DAY + h * 12 for d, h in ((8, 3), (9, 10), (10, 15), (11, 21), (15, 8), (16, 13), (17, 19))
]


def inject(series: Series, start: int, extra: float, buckets: int = 6) -> Series:
    """``extra`` messages spread evenly over ``buckets`` buckets from ``start`` (30 min by default)."""
    out = list(series)
    for i in range(start, start + buckets):
        out[i] = (out[i][0], out[i][1] + round(extra / buckets))
    return out


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_no_false_alarm_in_simulated_weeks(brand: str) -> None:
    for seed in (1, 2):
        assert run(brand_traffic(BRANDS[brand], days=21, seed=seed)) == []  # three weeks, no alert


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_recall_grows_with_the_spike_size(brand: str) -> None:
    per_day = BRANDS[brand]
    background = brand_traffic(per_day, days=19, seed=3)
    recall = {}
    for hours in (0.25, 8.0, 48.0):  # the spike adds this many hours of the brand's weekday traffic in 30 min
        extra = per_day * hours / 24.0
        caught = 0
        for start in SPIKE_STARTS:
            fires = [t for t in run(inject(background, start, extra)) if t.kind == "fire"]
            at = background[start][0]
            assert all(at <= t.timestamp < at + timedelta(hours=1) for t in fires), (hours, start, fires)
            caught += bool(fires)
        recall[hours] = caught / len(SPIKE_STARTS)
    # under the materiality (an hour of traffic) never; two days of a brand's traffic in 30 min always.
    # In between, a small brand's Poisson noise is large in relative terms: 8 h of its traffic (17
    # messages in 30 min) is caught at about one start in three, on the large brand at every start.
    assert recall[0.25] == 0.0 and recall[48.0] == 1.0, recall
    assert recall[0.25] <= recall[8.0] <= recall[48.0], recall
