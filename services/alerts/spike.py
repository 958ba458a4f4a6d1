"""Reputation-spike detector: one streaming, online detector for the alerts service and the evaluator.

``SpikeDetector.update(timestamp, value)`` takes one value per time bucket (``SpikeConfig.bucket_seconds``),
in time order, and returns the ``Transition`` events it causes: ``fire`` when a spike starts and
``resolve`` when the signal is back to normal. Every decision uses only points at or before it (no
look-ahead). The update does a bounded amount of work per point and the state is bounded (rings of hourly
summaries); it round-trips through a plain JSON-serialisable dict (``to_state()`` / ``from_state()``), so
the service keeps it in a faust table and restores it after a restart. The service and the offline
evaluator (``services.alerts.evaluate``) run this same code.

Model. One ``SpikeConfig`` for every brand, signal and series. Nothing in the detector has a unit: it
knows no message counts, only the series' own level and its own variability, so a brand with 50 messages
a day and one with 50,000 (or a CPU percentage and a byte count) are judged by the same rules.

* **Scale-free value.** The detector works on ``y = log(x + offset_factor * L)``, where ``L`` is the
  series' own long-run mean (a running mean that becomes an EWMA with a week's half-life). Multiplying a
  series by any factor shifts ``y`` by a constant. Adding ``L`` inside the log keeps the empty and
  one-message buckets of a quiet series from looking like huge relative jumps: changes are measured
  relative to the series' usual level, not to the current bucket.
* **Robust seasonal baseline.** For each hour of the day, the median of that hour's mean ``y`` over the
  last ``season_days`` days; for each hour of the week, the median over the last ``season_weeks`` weeks,
  usable once a slot has two weeks. The detector uses whichever of the two has predicted the series
  better lately (EWMA of absolute errors): a weekly pattern is used where it exists, not assumed. Medians
  ignore a minority of abnormal days, so a past incident does not move the baseline. A slow offset (EWMA
  of winsorised residuals, half-life ``level_halflife_seconds``) follows drifts; until an hour and its
  neighbour have a day of history, an EWMA of ``y`` (1 h half-life) stands in. Profiles are interpolated
  between hour centres.
* **Scores against the series' own variability.** Residuals ``y - baseline`` are averaged over a short
  window (``short_window`` buckets, bursts) and a long one (``long_window``, rises that build up over
  hours with no outstanding bucket). Each window's score is its mean residual over a robust scale of that
  same window's past values: per hour the mean absolute window residual (winsorised), and the scale is
  the median of the last ``scale_slots`` hourly values times sqrt(pi/2) (consistent for a normal
  variable). A score of 6 means "6 typical deviations of this series' own 15-minute (or 4-hour) windows";
  the autocorrelation and heavy tails of each series are in its scale, not in a per-series threshold.
* **Record rule.** Series differ in how often they burst, and a fixed tail threshold would page all day on
  a bursty one. Each window keeps a decaying maximum of its own past scores (half-life
  ``memory_halflife_seconds``); it triggers only at ``fire_z`` and at ``memory_fraction`` of that
  maximum, the latter capped at ``memory_max_factor * fire_z``. A series that bursts routinely must burst
  about as much again to alert (a near-record of its own recent history); a calm one alerts on its first
  clear spike; the cap means one huge incident never silences a series for weeks. The maximum starts with
  a window's first score, during the warm-up, so a series' routine bursts are known before it can page.
* **Materiality, relative.** A fire also needs the triggering window to hold ``material_hours`` of the
  series' own mean level above its expectation. This is an area in units of the series' own traffic: a
  one-bucket blip that is improbable but adds minutes of traffic does not page, whatever the brand's size.
  Absolute minimum volumes for paging are not the detector's business; they live in
  ``services.alerts.signals.page_decision``.
* **Alert state machine.** No alert during ``warmup_seconds`` nor from a window before its scale has
  enough history (``min_scale_slots``). A fire needs a window at its threshold and the current bucket
  above its baseline. After a fire the detector stays active until the score of the window that fired is
  below ``resolve_fraction * fire_z`` (hysteresis) and then emits ``resolve``; no new fire for
  ``cooldown_seconds`` after a resolve (a refractory period in time, so aftershocks belong to the
  incident). Severity is ``critical`` when the score is ``critical_factor`` times its threshold and the
  window holds ``critical_ratio`` times its expectation, ``warning`` otherwise.

The three global sensitivities (``fire_z``, ``memory_fraction``, ``material_hours``) are chosen by ``engage
eval-alerts`` from ``TUNING_GRID`` inside training folds only; every other default is a structural choice
whose docstring gives its reason. Known limit: in relative terms the Poisson noise of a brand with a few
dozen messages a day is large, so such a brand pages only on a burst of many hours of its own traffic
(``tests/unit/test_spike_detector.py`` measures recall against spike size for small and large brands).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["fire", "resolve"]
Severity = Literal["warning", "critical"]

_STATE_VERSION = 2
_NORMAL_MEAN_ABS = math.sqrt(math.pi / 2.0)  # sigma / E|Z| for a normal variable
_FALLBACK_HALFLIFE_SECONDS = 3600.0  # baseline before the first profile slot exists
_TINY = 1e-9  # keeps log() finite on a series that has been exactly 0 so far


@dataclass(frozen=True)
class SpikeConfig:
    """One parameter set for every series. Durations are in seconds; windows are in buckets.

    The defaults of the three sensitivities are the ``TUNING_GRID`` point chosen on the non-tweet NAB
    categories alone (``engage eval-alerts --protocol without-tweets``): chosen without any series of
    social-media counts, the closest proxy for brands the detector has never seen."""

    bucket_seconds: int = 300
    """Step of the series: one ``update`` per bucket (5 min in the service)."""
    slot_seconds: int = 3600
    """Width of a profile slot: an hour of buckets, enough for a slot mean to be stable at low counts."""
    season_days: int = 7
    """Days kept per hour-of-day slot; the median of a week ignores up to three abnormal days."""
    season_weeks: int = 3
    """Weeks kept per hour-of-week slot (used from two weeks on, when it predicts better): the median of
    three ignores one abnormal week."""
    offset_factor: float = 1.0
    """``y = log(x + offset_factor * L)``: 1 measures changes relative to the series' usual level, so a
    doubling of a busy hour counts and the Poisson noise of near-empty buckets does not."""
    mean_halflife_seconds: float = 7 * 86400.0
    """Half-life of the long-run mean ``L``: a week, slower than any incident."""
    level_halflife_seconds: float = 86400.0
    """Half-life of the baseline offset: a day, so a rise that lasts hours is still measured against the
    level from before it, while a lasting change is absorbed within days."""
    error_halflife_seconds: float = 7 * 86400.0
    """Memory of the daily and weekly profiles' prediction errors, which decide which one is used."""
    scale_slots: int = 168
    """Hours of window residuals whose median sets each window's scale: a week, so one bad day barely
    moves it and every hour of the week is represented."""
    min_scale_slots: int = 6
    """No alert from a window before its scale has this many hours of residuals against a seasonal profile
    (which itself needs a day), times the hours the window spans (its hourly values overlap): enough for a
    median. The burst window pages from six hours into day two, the 4-hour window from day three."""
    scale_floor: float = 0.01
    """Least scale, in log units (a 1 % change): a constant series must not make every wiggle a spike."""
    clip_z: float = 3.0
    """Residuals and window residuals are winsorised at this many scales before they are learned from, so a
    spike barely moves the baseline or the scale (robust learning)."""
    short_window: int = 3
    """Buckets averaged by the burst window: 15 minutes, a few buckets so one odd bucket is not a spike."""
    long_window: int = 48
    """Buckets averaged by the level window: 4 hours, for rises with no outstanding single bucket."""
    fire_z: float = 6.0
    """Score a window needs to fire, in its own robust scales. Chosen from ``TUNING_GRID`` in folds."""
    memory_fraction: float = 1.0
    """A window triggers only at >= this fraction of its recent maximum score (a near-record). Chosen from
    ``TUNING_GRID`` in folds."""
    memory_halflife_seconds: float = 14 * 86400.0
    """Half-life of the decaying maximum of past scores: two weeks, long enough to span two weekly cycles,
    short enough that a series' quiet period restores its sensitivity."""
    memory_max_factor: float = 3.0
    """The record rule never requires more than this multiple of ``fire_z``, so a series is never left
    without alerts after one huge incident."""
    material_hours: float = 1.0
    """A fire needs the window to hold this many hours of the series' mean level above expectation.
    Chosen from ``TUNING_GRID`` in folds."""
    warmup_seconds: float = 86400.0
    """No alert during the first day: the hour-of-day profile needs one full day."""
    resolve_fraction: float = 0.25
    """Hysteresis: resolve once the firing window's score is below this fraction of ``fire_z``."""
    cooldown_seconds: float = 6 * 3600.0
    """Refractory period: no new fire within 6 h of a resolve, so aftershocks of an incident (the same
    story bursting again an hour later) belong to it and alerts do not flap."""
    critical_factor: float = 2.0
    """Severity: critical when the score is at least this multiple of the threshold in force..."""
    critical_ratio: float = 5.0
    """...and the window holds at least this multiple of its expectation; warning otherwise."""


TUNING_GRID: tuple[dict[str, float], ...] = tuple(
    {"fire_z": z, "memory_fraction": fraction, "material_hours": hours}
    for z in (4.0, 6.0, 9.0)
    for fraction in (0.8, 1.0)
    for hours in (0.5, 1.0)
)
"""The points ``engage eval-alerts`` chooses among inside its training folds: ``SpikeConfig`` overrides of
the detector's three global sensitivities (the score threshold, the record rule, the materiality), the
same for every series. The first point that maximises the training folds' pooled F1 wins (ties go to grid
order)."""


@dataclass(frozen=True)
class Transition:
    """An alert state change. ``observed`` and ``expected`` are sums of the series' values over the window
    that decided it (``window_seconds`` long, ending at ``timestamp``'s bucket); ``score`` is that window's
    mean residual in its own robust scales."""

    kind: Kind
    timestamp: datetime
    observed: float
    expected: float
    score: float
    severity: Severity
    window_seconds: int = 0


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _rate(step: float, halflife: float) -> float:
    """EWMA weight of one step for a given half-life."""
    return 1.0 - 0.5 ** (step / halflife)


def _push(ring: list[float], value: float, size: int) -> None:
    ring.append(value)
    if len(ring) > size:
        del ring[: len(ring) - size]


def _ewma(current: float | None, value: float, rate: float) -> float:
    return value if current is None else current + rate * (value - current)


@dataclass
class _State:
    """Everything the detector remembers: bounded and JSON-friendly (lists, floats, ints, bools, None)."""

    first_bucket: int | None = None
    last_bucket: int | None = None
    slot: int | None = None
    slot_sum: float = 0.0
    slot_n: int = 0
    mean: float | None = None
    """Long-run mean of the values (``L``)."""
    mean_n: int = 0
    """Points in ``mean`` so far: a plain running mean until the EWMA's weight takes over."""
    day: list[list[float]] | None = None
    """Per hour of the day, the slot means of ``y`` (offset removed) of the last ``season_days`` days."""
    week: list[list[float]] | None = None
    """Per hour of the week, the same over the last ``season_weeks`` weeks."""
    error_day: float | None = None
    error_week: float | None = None
    offset: float = 0.0
    fallback: float | None = None
    recent: list[list[float]] | None = None
    """``[bucket, residual, value, expected value]`` of the buckets in the long window."""
    scale_rings: list[list[float]] | None = None
    """Per window (short, long), the hourly mean absolute window residuals of the last ``scale_slots``
    hours."""
    scale_sums: list[float] | None = None
    scale_n: int = 0
    """Points in ``scale_sums``: those of the hour scored against a seasonal profile."""
    memory: list[float] | None = None
    """Per window, the decaying maximum of its past scores (the record rule)."""
    active: bool = False
    fired_window: int = 0
    """The window whose fire opened the episode (0 short, 1 long): the episode ends when it is back."""
    severity: str = "warning"
    resolved_bucket: int | None = None


@dataclass(frozen=True)
class _Window:
    score: float
    threshold: float
    observed: float
    expected: float
    buckets: int


class SpikeDetector:
    """Streaming spike detector for one series (see the module docstring for the model)."""

    def __init__(self, config: SpikeConfig | None = None) -> None:
        self.config = c = config or SpikeConfig()
        if 86400 % c.slot_seconds or c.slot_seconds % c.bucket_seconds:
            raise ValueError("slot_seconds must divide a day and be a multiple of bucket_seconds")
        if not 1 <= c.short_window <= c.long_window:
            raise ValueError("need 1 <= short_window <= long_window")
        self._day_slots = 86400 // c.slot_seconds
        self._week_slots = 7 * self._day_slots
        self._a_offset = _rate(c.bucket_seconds, c.level_halflife_seconds)
        self._a_mean = _rate(c.bucket_seconds, c.mean_halflife_seconds)
        self._a_error = _rate(c.bucket_seconds, c.error_halflife_seconds)
        self._a_fallback = _rate(c.bucket_seconds, _FALLBACK_HALFLIFE_SECONDS)
        self._memory_decay = 0.5 ** (c.bucket_seconds / c.memory_halflife_seconds)
        # Hours of history each window's scale needs: ``min_scale_slots`` per slot the window spans, since
        # the hourly values of a window longer than an hour overlap and are not independent.
        self._min_scale = tuple(
            c.min_scale_slots * max(1, math.ceil(n * c.bucket_seconds / c.slot_seconds))
            for n in (c.short_window, c.long_window)
        )
        self._cache: tuple[list[float | None], list[float | None], list[float | None]] | None = None
        """Derived from the state, not part of it: the daily and weekly profile medians and the two
        windows' scales; cleared whenever an hour is folded in."""
        self._s = _State(
            day=[[] for _ in range(self._day_slots)],
            week=[[] for _ in range(self._week_slots)],
            recent=[],
            scale_rings=[[], []],
            scale_sums=[0.0, 0.0],
            memory=[0.0, 0.0],
        )
        self.last_scores: tuple[float, float] = (0.0, 0.0)
        """Scores (short, long) of the last point, for diagnostics only (not part of the state)."""

    # -- persistence ----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The detector's state as a plain JSON-serialisable dict (store it, then ``from_state``)."""
        state = asdict(self._s)
        state["version"] = _STATE_VERSION
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], config: SpikeConfig | None = None) -> SpikeDetector:
        """A detector that continues exactly where the one that produced ``state`` stopped.

        ``config`` must be the configuration the state was produced with (the service uses one config).
        A state of another version raises ``ValueError`` (``resume`` is the service's tolerant form)."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported spike detector state version {state.get('version')!r}")
        detector = cls(config)
        names = {f.name for f in fields(_State)}
        # deep copy: the detector must not mutate (or share) the caller's dict, e.g. a faust table value
        detector._s = _State(**copy.deepcopy({k: v for k, v in state.items() if k in names}))
        if len(detector._s.day or []) != detector._day_slots:
            raise ValueError("state was produced with a different slot_seconds")
        return detector

    @classmethod
    def resume(cls, state: dict[str, Any] | None, config: SpikeConfig | None = None) -> SpikeDetector:
        """``from_state`` for a stored state; a fresh detector (warming up again) when there is none or
        when it was stored by another detector version, whose model this one cannot continue."""
        if not state or state.get("version") != _STATE_VERSION:
            return cls(config)
        return cls.from_state(state, config)

    # -- baseline and scales --------------------------------------------------------------------------

    def _derived(self) -> tuple[list[float | None], list[float | None], list[float | None]]:
        if self._cache is None:
            c, s = self.config, self._s
            day = [_median(r) if r else None for r in s.day or []]
            week = [_median(r) if len(r) >= 2 else None for r in s.week or []]
            scales: list[float | None] = [
                max(_NORMAL_MEAN_ABS * _median(ring), c.scale_floor) if len(ring) >= least else None
                for ring, least in zip(s.scale_rings or [[], []], self._min_scale, strict=True)
            ]
            self._cache = (day, week, scales)
        return self._cache

    def scales(self) -> tuple[float | None, float | None]:
        """The robust scales of the short and long windows' mean residuals (None before enough history)."""
        scales = self._derived()[2]
        return scales[0], scales[1]

    def _profile(self, epoch: float, weekly: bool) -> float | None:
        """The hour-of-day (or hour-of-week) profile at ``epoch``, interpolated between slot centres."""
        day, week, _ = self._derived()
        medians = week if weekly else day
        pos = epoch / self.config.slot_seconds - 0.5
        left = math.floor(pos)
        frac = pos - left
        a, b = medians[left % len(medians)], medians[(left + 1) % len(medians)]
        if a is None or b is None:  # a slot with no history yet: no profile (the stand-in serves)
            return None
        return (1.0 - frac) * a + frac * b

    def _close_slot(self) -> None:
        """Fold the finished hour into the profiles and the window scales."""
        c, s = self.config, self._s
        if s.slot is None or s.slot_n == 0:
            return
        mean = s.slot_sum / s.slot_n
        _push((s.day or [])[s.slot % self._day_slots], mean, c.season_days)
        # hour of the week: the epoch started on a Thursday, any fixed origin will do for a ring
        _push((s.week or [])[s.slot % self._week_slots], mean, c.season_weeks)
        rings, sums = s.scale_rings or [[], []], s.scale_sums or [0.0, 0.0]
        if s.scale_n:
            for i in (0, 1):
                _push(rings[i], sums[i] / s.scale_n, c.scale_slots)
                sums[i] = 0.0
        s.scale_n = 0
        self._cache = None

    def expected_level(self) -> float:
        """The series' long-run mean value per bucket (``L``), the unit of materiality."""
        return self._s.mean or 0.0

    # -- the update -----------------------------------------------------------------------------------

    def update(self, timestamp: datetime, value: float) -> list[Transition]:
        """Feed one bucket's value; returns the transitions it causes (usually none).

        Buckets must arrive in time order: a point for a bucket at or before the last one is ignored (late
        data). A naive ``timestamp`` is taken as UTC. Buckets may be missing: the windows cover time, not a
        number of points (the service feeds empty buckets as 0). Negative values are taken as 0.
        """
        c, s = self.config, self._s
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        epoch = timestamp.timestamp()
        bucket = int(epoch // c.bucket_seconds)
        if s.last_bucket is not None and bucket <= s.last_bucket:
            return []
        if s.first_bucket is None:
            s.first_bucket = bucket
        s.last_bucket = bucket
        x = max(0.0, float(value))
        slot = int(epoch // c.slot_seconds)
        if slot != s.slot:
            self._close_slot()
            s.slot, s.slot_sum, s.slot_n = slot, 0.0, 0

        # Baseline, from the state before this point.
        if s.mean is None:
            s.mean = x
        shift = max(c.offset_factor * s.mean, _TINY)
        y = math.log(x + shift)
        daily, weekly = self._profile(epoch, False), self._profile(epoch, True)
        if daily is not None:
            s.error_day = _ewma(s.error_day, abs(y - daily - s.offset), self._a_error)
        if weekly is not None:
            s.error_week = _ewma(s.error_week, abs(y - weekly - s.offset), self._a_error)
        use_week = weekly is not None and (s.error_week or 0.0) < (s.error_day or math.inf)
        profile = weekly if use_week else daily
        if s.fallback is None:
            s.fallback = y
        base = s.fallback if profile is None else profile + s.offset
        residual = y - base
        expected = max(math.exp(base) - shift, 0.0)

        recent = s.recent if s.recent is not None else []
        recent.append([float(bucket), residual, x, expected])
        while recent[0][0] <= bucket - c.long_window:
            del recent[0]
        short_rows = [r for r in recent if r[0] > bucket - c.short_window]
        short_mean = sum(r[1] for r in short_rows) / c.short_window
        long_mean = sum(r[1] for r in recent) / c.long_window
        short, long = self._windows(recent, short_rows, short_mean, long_mean)
        self.last_scores = (short.score, long.score)
        transitions = self._decide(timestamp, bucket, residual > 0.0, short, long)

        # Learning, after the decision: a point never explains itself.
        memory = s.memory or [0.0, 0.0]
        short_scale, long_scale = self.scales()
        # from a window's first score on: the warm-up's scores are the series' history too
        if short_scale is not None:
            memory[0] = max(memory[0] * self._memory_decay, short.score)
        if long_scale is not None:
            memory[1] = max(memory[1] * self._memory_decay, long.score)
        sums = s.scale_sums or [0.0, 0.0]
        if profile is not None:  # the scales describe the seasonal baseline's errors, not the stand-in's
            sums[0] += min(abs(short_mean), c.clip_z * short_scale) if short_scale else abs(short_mean)
            sums[1] += min(abs(long_mean), c.clip_z * long_scale) if long_scale else abs(long_mean)
            s.scale_n += 1
        bucket_scale = short_scale * math.sqrt(c.short_window) if short_scale else None
        clipped = (
            min(max(residual, -c.clip_z * bucket_scale), c.clip_z * bucket_scale)
            if bucket_scale
            else residual
        )
        if profile is not None:
            s.offset += self._a_offset * (clipped - s.offset)
            s.slot_sum += profile + clipped
        else:
            s.slot_sum += base + clipped
        s.slot_n += 1
        s.fallback += self._a_fallback * (base + clipped - s.fallback)
        s.mean_n += 1
        s.mean += max(self._a_mean, 1.0 / s.mean_n) * (x - s.mean)
        s.recent = recent
        return transitions

    def _warm(self, bucket: int) -> bool:
        s, c = self._s, self.config
        assert s.first_bucket is not None
        warm = (bucket - s.first_bucket) * c.bucket_seconds >= c.warmup_seconds
        return warm and self.scales()[0] is not None  # a window without a scale yet scores 0

    def _windows(
        self, recent: list[list[float]], short_rows: list[list[float]], short_mean: float, long_mean: float
    ) -> tuple[_Window, _Window]:
        """The short and long windows ending at the current bucket, with scores and thresholds."""
        c = self.config
        short_scale, long_scale = self.scales()
        memory = self._s.memory or [0.0, 0.0]
        full = 2 * len(recent) >= c.long_window
        out = []
        for rows, mean, scale, mem, n in (
            (short_rows, short_mean, short_scale, memory[0], c.short_window),
            (recent, long_mean, long_scale if full else None, memory[1], c.long_window),
        ):
            threshold = max(c.fire_z, min(c.memory_fraction * mem, c.memory_max_factor * c.fire_z))
            out.append(
                _Window(
                    score=mean / scale if scale else 0.0,
                    threshold=threshold,
                    observed=sum(r[2] for r in rows),
                    expected=sum(r[3] for r in rows),
                    buckets=n,
                )
            )
        return out[0], out[1]

    def _decide(
        self, timestamp: datetime, bucket: int, elevated: bool, short: _Window, long: _Window
    ) -> list[Transition]:
        c, s = self.config, self._s
        if s.active:
            if (long if s.fired_window else short).score >= c.resolve_fraction * c.fire_z:
                return []
            s.active, s.resolved_bucket = False, bucket
            current: Severity = "critical" if s.severity == "critical" else "warning"
            return [self._transition("resolve", timestamp, short, current)]
        if not self._warm(bucket) or not elevated:
            return []
        if (
            s.resolved_bucket is not None
            and (bucket - s.resolved_bucket) * c.bucket_seconds < c.cooldown_seconds
        ):
            return []
        material = c.material_hours * (c.slot_seconds / c.bucket_seconds) * (s.mean or 0.0)
        triggered = [
            w
            for w in (short, long)
            if w.score >= w.threshold and w.observed - w.expected >= material and w.observed > w.expected
        ]
        if not triggered:
            return []
        w = max(triggered, key=lambda t: t.score / t.threshold)
        critical = w.score >= c.critical_factor * w.threshold and w.observed >= c.critical_ratio * w.expected
        severity: Severity = "critical" if critical else "warning"
        s.active, s.severity, s.fired_window = True, severity, int(w is long)
        return [self._transition("fire", timestamp, w, severity)]

    def _transition(self, kind: Kind, timestamp: datetime, w: _Window, severity: Severity) -> Transition:
        return Transition(
            kind, timestamp, w.observed, w.expected, w.score, severity, w.buckets * self.config.bucket_seconds
        )
