"""Every query in docs/analysts.md, and every rollup, against a simulated day in chDB (no Kafka).

The day is enriched and loaded exactly as the pipeline would (``tests.populate``). Half of
it is loaded before the rollup migrations exist, so their backfill and their materialized views are
both exercised. Each documented query runs read-only for every brand over the whole day and over a
six-hour window, and its rows must equal the simulator's ground truth (posts, conversions, responses,
crises) or a computation in Python over the loaded events. Each rollup must equal the same aggregate
over ``events FINAL`` — also after a replayed batch put duplicate rows into ``events``.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.analytics import queries, retention
from services.common.clickhouse import Database, connect
from services.common.migrations import discover, migrate
from services.common.settings import REPO_ROOT
from services.enrich.features.engine import DEFAULT_ATTRIBUTION_WINDOW_S
from services.enrich.features.virality import is_viral
from services.sim.simulator import GroundTruth, PostTruth, Simulation
from tests.integration.analytics_data import alert_rows, simulated_day
from tests.populate import Populated, insert_rows

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1)  # the simulator's default start, naive UTC like ClickHouse results
WINDOWS = {
    "day": (START, START + timedelta(days=1)),
    "6h": (START + timedelta(hours=3), START + timedelta(hours=9)),
}
READ_ONLY = {"readonly": 1}
ENGAGEMENT = {"like", "comment", "reply", "share", "click", "mention", "message"}
MESSAGES = {"comment", "reply", "mention", "message"}
BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 4294967295)
DOCUMENTED = queries.load()


def naive(ts: datetime | str) -> datetime:
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def floor(ts: datetime, minutes: int) -> datetime:
    ts = ts.replace(second=0, microsecond=0)
    return ts - timedelta(minutes=(ts.hour * 60 + ts.minute) % minutes)


@dataclass
class World:
    db: Database
    sim: Simulation
    populated: Populated
    migrations_applied: list[list[int]]
    alerts: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)  # loaded rows + naive time "t"
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def truth(self) -> GroundTruth:
        return self.sim.ground_truth

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        columns, rows = self.db.query_rows(sql, params, READ_ONLY)
        return [dict(zip(columns, r, strict=True)) for r in rows]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    sim, populated = simulated_day()
    events = populated.events
    early = tmp_path_factory.mktemp("migrations_before_rollups")
    for m in discover():
        if m.version <= 3:
            shutil.copy(m.path, early)
    db = connect(f"chdb://{tmp_path_factory.mktemp('analyst') / 'ch'}")
    try:
        applied = [[m.version for m in migrate(db, early)]]
        half = len(events) // 2
        early_columns = [r[0] for r in db.query_rows("DESCRIBE TABLE events")[1]]
        insert_rows(db, "enriched_event", events[:half], only_columns=early_columns)  # an older loader
        for subject in ("post_virality", "follower_funnel", "brand_backlog"):
            insert_rows(db, subject, populated.rows[subject])
        applied.append([m.version for m in migrate(db)])  # rollups: backfill the first half
        applied.append([m.version for m in migrate(db)])  # twice in a row: nothing left to do
        insert_rows(db, "enriched_event", events[half:])  # through the materialized views
        alerts = alert_rows(sim, events)
        insert_rows(db, "alert", alerts)
        w = World(db, sim, populated, applied, alerts)
        w.events = [{**e, "t": naive(e["occurred_at"])} for e in events]
        w.by_id = {e["event_id"]: e for e in w.events}
        yield w
    finally:
        db.close()


def test_migrations_run_twice_and_backfill(world: World) -> None:
    versions = [m.version for m in discover()]
    assert max(versions) >= 5
    assert world.migrations_applied == [[1, 2, 3], [v for v in versions if v > 3], []]
    assert [m.version for m in migrate(world.db)] == []
    rows = world.query("SELECT version FROM engage_migrations FINAL ORDER BY version")
    assert [r["version"] for r in rows] == versions


# --- rollups vs events FINAL ---------------------------------------------------------------------

# (rollup query, the same aggregate computed from events FINAL); rows compared in full.
ROLLUP_VS_DIRECT: dict[str, tuple[str, str]] = {
    "events_minute": (
        """SELECT brand_id, minute, platform, event_type, sentiment_label, language, is_complaint, is_brand,
                  uniqExactMerge(events), uniqExactMerge(actors)
           FROM events_minute GROUP BY ALL ORDER BY ALL""",
        """SELECT brand_id, toStartOfMinute(occurred_at) AS m, platform, event_type, sentiment_label,
                  language, is_complaint, is_brand, count(), uniqExact(actor_id)
           FROM events FINAL GROUP BY ALL ORDER BY ALL""",
    ),
    "events_minute, people per brand and day": (
        """SELECT brand_id, toDate(minute), uniqExactMerge(actors) FROM events_minute
           GROUP BY 1, 2 ORDER BY 1, 2""",
        """SELECT brand_id, toDate(occurred_at), uniqExact(actor_id) FROM events FINAL
           GROUP BY 1, 2 ORDER BY ALL""",
    ),
    "post_engagement_5m": (
        """SELECT brand_id, post_id, bucket, platform, event_type, sentiment_label,
                  uniqExactMerge(events), uniqExactMerge(actors), max(max_cascade_depth)
           FROM post_engagement_5m GROUP BY ALL ORDER BY ALL""",
        """SELECT brand_id, assumeNotNull(post_id) AS p, toStartOfFiveMinutes(occurred_at) AS b, platform,
                  event_type, sentiment_label, count(), uniqExact(actor_id), max(ifNull(cascade_depth, 0))
           FROM events FINAL
           WHERE post_id IS NOT NULL AND NOT is_brand
             AND event_type IN ('like', 'comment', 'reply', 'share', 'click')
           GROUP BY ALL ORDER BY ALL""",
    ),
    "response_times_hourly": (
        """SELECT brand_id, hour, platform, le_seconds, uniqExactMerge(replies),
                  arraySort(groupUniqArrayMerge(responses)), min(min_seconds), max(max_seconds)
           FROM response_times_hourly GROUP BY ALL ORDER BY ALL""",
        f"""SELECT brand_id, toStartOfHour(occurred_at) AS h, platform,
                  arrayFirst(b -> assumeNotNull(response_seconds) <= b, {list(BUCKETS)}) AS le,
                  count(), arraySort(groupArray((event_id, assumeNotNull(response_seconds)))),
                  min(response_seconds), max(response_seconds)
           FROM events FINAL WHERE response_seconds IS NOT NULL GROUP BY ALL ORDER BY ALL""",
    ),
    "fan_loss_hourly": (
        """SELECT brand_id, post_id, hour, platform, uniqExactMerge(unfollows), uniqExactMerge(unfollowers),
                  min(min_seconds_since_post), max(max_seconds_since_post)
           FROM fan_loss_hourly GROUP BY ALL ORDER BY ALL""",
        """SELECT brand_id, ifNull(attributed_post_id, '') AS p, toStartOfHour(occurred_at) AS h, platform,
                  count(), uniqExact(actor_id), min(seconds_since_post), max(seconds_since_post)
           FROM events FINAL WHERE event_type = 'unfollow' GROUP BY ALL ORDER BY ALL""",
    ),
    "campaign_funnel_hourly": (
        """SELECT brand_id, campaign_id, event_type, hour, platform, uniqExactMerge(events),
                  uniqExactMerge(actors)
           FROM campaign_funnel_hourly GROUP BY ALL ORDER BY ALL""",
        """SELECT brand_id, assumeNotNull(campaign_id) AS c, event_type, toStartOfHour(occurred_at) AS h,
                  platform, count(), uniqExact(actor_id)
           FROM events FINAL WHERE campaign_id IS NOT NULL AND NOT is_brand GROUP BY ALL ORDER BY ALL""",
    ),
    "campaign_funnel_hourly, people per campaign": (
        """SELECT brand_id, campaign_id, uniqExactMerge(actors) FROM campaign_funnel_hourly
           GROUP BY ALL ORDER BY ALL""",
        """SELECT brand_id, assumeNotNull(campaign_id) AS c, uniqExact(actor_id) FROM events FINAL
           WHERE campaign_id IS NOT NULL AND NOT is_brand GROUP BY ALL ORDER BY ALL""",
    ),
    "conversions_hourly": (
        """SELECT brand_id, hour, platform, first_touch_campaign_id, last_touch_campaign_id,
                  touches_before_conversion, uniqExactMerge(conversions), uniqExactMerge(customers),
                  min(min_seconds_to_convert), max(max_seconds_to_convert)
           FROM conversions_hourly GROUP BY ALL ORDER BY ALL""",
        """SELECT brand_id, toStartOfHour(occurred_at) AS h, platform,
                  ifNull(first_touch_campaign_id, '') AS f, ifNull(last_touch_campaign_id, '') AS l,
                  assumeNotNull(touches_before_conversion) AS n,
                  count(), uniqExact(actor_id), min(seconds_to_convert), max(seconds_to_convert)
           FROM events FINAL WHERE event_type = 'purchase' AND touches_before_conversion IS NOT NULL
           GROUP BY ALL ORDER BY ALL""",
    ),
}


def _assert_rollups_equal_direct(world: World) -> None:
    tables = {
        r["name"] for r in world.query("SELECT name FROM system.tables WHERE engine = 'AggregatingMergeTree'")
    }
    assert tables == {name.split(",")[0] for name in ROLLUP_VS_DIRECT}, "every rollup has a consistency check"
    for name, (rollup_sql, direct_sql) in ROLLUP_VS_DIRECT.items():
        _, rollup = world.db.query_rows(rollup_sql, settings=READ_ONLY)
        _, direct = world.db.query_rows(direct_sql, settings=READ_ONLY)
        assert direct, name
        assert len(rollup) == len(direct), name
        for a, b in zip(rollup, direct, strict=True):
            assert tuple(a) == tuple(b), (name, a, b)


def test_rollups_equal_events_final_also_after_a_replayed_batch(world: World) -> None:
    _assert_rollups_equal_direct(world)
    n = len(world.populated.events)
    # A replay: every 5th event again, re-enriched later (so ClickHouse does not drop the block as an
    # identical insert), plus stale snapshots of every post that FINAL must ignore.
    replayed_at = datetime.now(UTC)
    insert_rows(
        world.db, "enriched_event", [{**e, "enriched_at": replayed_at} for e in world.populated.events[::5]]
    )
    for subject, key in (("post_virality", "post_id"), ("brand_backlog", "brand_id")):
        first_snapshots: dict[str, dict[str, Any]] = {}
        for row in world.populated.rows[subject]:
            first_snapshots.setdefault(row[key], row)
        insert_rows(world.db, subject, list(first_snapshots.values()))
    [[raw, final]] = world.db.query_rows(
        "SELECT (SELECT count() FROM events), (SELECT count() FROM events FINAL)"
    )[1]
    assert final == n and raw == n + len(world.populated.events[::5]), "the duplicates must really be there"
    _assert_rollups_equal_direct(world)


# --- documented queries ------------------------------------------------------------------------


def test_at_least_twelve_documented_queries_each_with_a_check() -> None:
    assert len(DOCUMENTED) >= 12
    assert set(DOCUMENTED) == set(CHECKS)
    for q in DOCUMENTED.values():
        assert set(q.parameters) <= {"brand", "since", "until"}, q.id


def _params(brand: str, window: str) -> dict[str, Any]:
    since, until = WINDOWS[window]
    return {
        "brand": brand,
        "since": since.strftime("%Y-%m-%d %H:%M:%S"),
        "until": until.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _brands(world: World) -> list[str]:
    return sorted({e["brand_id"] for e in world.events})


@pytest.mark.parametrize("qid", list(DOCUMENTED))
def test_documented_query(world: World, qid: str) -> None:
    query, check = DOCUMENTED[qid], CHECKS[qid]
    nonempty = 0
    windows = ["day"] if "since" not in query.parameters else list(WINDOWS)
    for brand in _brands(world):
        for window in windows:
            params = _params(brand, window)
            rows = world.query(query.sql, query.bind(params))
            ctx = Ctx(world, brand, *WINDOWS[window])
            check(ctx, rows)
            nonempty += bool(rows)
    assert nonempty, f"{qid} returned nothing for every brand and window: the check proved nothing"


@dataclass
class Ctx:
    """One run of a query: the world, the brand and the window, with the Python-side selections."""

    w: World
    brand: str
    since: datetime
    until: datetime

    def inside(self, t: datetime) -> bool:
        return self.since <= t < self.until

    def brand_events(self) -> list[dict[str, Any]]:
        return [e for e in self.w.events if e["brand_id"] == self.brand]

    def audience(self) -> list[dict[str, Any]]:
        return [e for e in self.brand_events() if not e["is_brand"] and self.inside(e["t"])]

    def posts(self) -> list[PostTruth]:
        """Ground-truth posts of the brand published in the window."""
        return [
            p
            for p in self.w.truth.posts.values()
            if p.brand_id == self.brand and self.inside(naive(p.posted_at))
        ]


def _approx(value: float) -> Any:
    return pytest.approx(value, abs=1.01e-4)


def check_engagement_by_platform(c: Ctx, rows: list[dict[str, Any]]) -> None:
    expected = Counter(
        (floor(e["t"], 60), e["platform"]) for e in c.audience() if e["event_type"] in ENGAGEMENT
    )
    assert {(r["hour"], r["platform"]): r["engagements"] for r in rows} == expected
    assert [(r["hour"], r["platform"]) for r in rows] == sorted(expected)


def check_sentiment_mix(c: Ctx, rows: list[dict[str, Any]]) -> None:
    counts = Counter(
        (e["platform"], e["sentiment_label"]) for e in c.audience() if e["event_type"] in MESSAGES
    )
    per_platform = Counter[str]()
    for (platform, _), n in counts.items():
        per_platform[platform] += n
    assert [(r["platform"], r["sentiment_label"], r["messages"]) for r in rows] == [
        (p, s, n) for (p, s), n in sorted(counts.items())
    ]
    for r in rows:
        assert r["share"] == _approx(r["messages"] / per_platform[r["platform"]])


def check_sentiment_trend(c: Ctx, rows: list[dict[str, Any]]) -> None:
    acc: dict[tuple[datetime, str], Counter[str]] = defaultdict(Counter)
    for e in c.audience():
        if e["event_type"] in MESSAGES:
            acc[(floor(e["t"], 60), e["platform"])][e["sentiment_label"]] += 1
    assert [(r["hour"], r["platform"]) for r in rows] == sorted(acc)
    for r in rows:
        n = acc[(r["hour"], r["platform"])]
        total = sum(n.values())
        assert (r["messages"], r["positive"], r["negative"]) == (total, n["positive"], n["negative"])
        assert r["net_sentiment"] == _approx((n["positive"] - n["negative"]) / total)


def _clicks(c: Ctx) -> Counter[str]:
    return Counter(e["post_id"] for e in c.brand_events() if e["event_type"] == "click" and e["post_id"])


def _engagement(p: PostTruth, clicks: Counter[str]) -> int:
    return p.likes + p.comments + p.cascade_size + clicks[p.post_id]


def check_top_posts_by_engagement(c: Ctx, rows: list[dict[str, Any]]) -> None:
    clicks = _clicks(c)
    top = sorted(c.posts(), key=lambda p: (-_engagement(p, clicks), p.post_id))[:10]
    assert [r["post_id"] for r in rows] == [p.post_id for p in top]
    for r, p in zip(rows, top, strict=True):
        text = c.w.by_id[p.post_id]["text"] or ""
        assert (r["platform"], r["posted_at"], r["campaign_id"]) == (
            p.platform,
            naive(p.posted_at),
            p.campaign_id,
        )
        assert (r["likes"], r["comments"], r["shares"], r["clicks"]) == (
            p.likes,
            p.comments,
            p.cascade_size,
            clicks[p.post_id],
        )
        assert r["engagement"] == _engagement(p, clicks)
        assert r["text"] == text[:80]


def check_top_posts_by_positive_share(c: Ctx, rows: list[dict[str, Any]]) -> None:
    per_post: dict[str, Counter[str]] = defaultdict(Counter)
    for e in c.audience():
        if e["event_type"] == "comment" and e["post_id"]:
            per_post[e["post_id"]][e["sentiment_label"]] += 1
    totals = {post_id: sum(n.values()) for post_id, n in per_post.items()}
    ranked = sorted(
        (post_id for post_id, total in totals.items() if total >= 5),
        key=lambda k: (-round(per_post[k]["positive"] / totals[k], 4), -totals[k], k),
    )[:10]
    assert [r["post_id"] for r in rows] == ranked
    for r in rows:
        n, total = per_post[r["post_id"]], totals[r["post_id"]]
        assert (r["comments"], r["positive"], r["negative"]) == (total, n["positive"], n["negative"])
        assert r["platform"] == c.w.by_id[r["post_id"]]["platform"]
        assert r["positive_share"] == _approx(n["positive"] / total)


def _shares_by_post(c: Ctx) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in c.brand_events():
        if e["event_type"] == "share" and e["post_id"]:
            out[e["post_id"]].append(e)
    return out


def check_viral_cascades(c: Ctx, rows: list[dict[str, Any]]) -> None:
    shares = _shares_by_post(c)
    top = sorted((p for p in c.posts() if p.cascade_size > 0), key=lambda p: (-p.cascade_size, p.post_id))[
        :20
    ]
    assert [r["post_id"] for r in rows] == [p.post_id for p in top]
    for r, p in zip(rows, top, strict=True):
        assert (r["direct_shares"], r["cascade_size"], r["cascade_depth"], r["cascade_breadth"]) == (
            p.shares,
            p.cascade_size,
            p.cascade_depth,
            p.cascade_breadth,
        )
        assert r["unique_reach"] == p.unique_reach
        assert r["unique_sharers"] == len({e["actor_id"] for e in shares[p.post_id]})
        peak = max(Counter(floor(e["t"], 5) for e in shares[p.post_id]).values())
        assert r["peak_share_velocity_5m"] == peak
        assert r["viral_coefficient"] == pytest.approx((p.cascade_size - p.shares) / p.cascade_size, abs=1e-6)
        assert r["is_viral"] == is_viral(p.cascade_size, p.cascade_depth, peak)


def check_share_velocity(c: Ctx, rows: list[dict[str, Any]]) -> None:
    top = sorted(c.posts(), key=lambda p: (-p.cascade_size, p.post_id))[:5]
    shares = _shares_by_post(c)
    expected: dict[tuple[str, datetime], list[int]] = defaultdict(list)
    for p in top:
        depth: dict[str, int] = {p.post_id: 0}
        for e in shares[p.post_id]:  # in event order: a parent share always precedes its children
            depth[e["event_id"]] = depth[e["parent_id"]] + 1
            expected[(p.post_id, floor(e["t"], 5))].append(depth[e["event_id"]])
    assert [(r["post_id"], r["bucket"], r["shares"], r["deepest"]) for r in rows] == [
        (post, bucket, len(ds), max(ds)) for (post, bucket), ds in sorted(expected.items())
    ]


def check_complaints_answered_within_1h(c: Ctx, rows: list[dict[str, Any]]) -> None:
    answered = {r.comment_event_id: r.response_seconds for r in c.w.truth.responses}
    acc: dict[str, list[float | None]] = defaultdict(list)
    for e in c.audience():
        if e["is_complaint"] and e["event_type"] in ("comment", "message"):
            acc[e["platform"]].append(answered.get(e["event_id"]))
    assert [r["platform"] for r in rows] == sorted(acc)
    for r in rows:
        waits = acc[r["platform"]]
        within = sum(1 for s in waits if s is not None and s <= 3600)
        assert (r["complaints"], r["answered"], r["answered_within_1h"]) == (
            len(waits),
            sum(1 for s in waits if s is not None),
            within,
        )
        assert r["share_within_1h"] == _approx(within / len(waits))


def _responses(c: Ctx) -> list[tuple[str, float]]:
    """(platform, seconds) of the brand's answers given in the window, from the ground truth."""
    return [
        (r.platform, r.response_seconds)
        for r in c.w.truth.responses
        if r.brand_id == c.brand and c.inside(c.w.by_id[r.reply_event_id]["t"])
    ]


def check_response_time_distribution(c: Ctx, rows: list[dict[str, Any]]) -> None:
    counts = Counter(next(b for b in BUCKETS if s <= b) for _, s in _responses(c))
    total = sum(counts.values())
    assert [(r["le_seconds"], r["answered"]) for r in rows] == sorted(counts.items())
    running = 0
    for r in rows:
        running += r["answered"]
        assert r["share"] == _approx(r["answered"] / total)
        assert r["cumulative_share"] == _approx(running / total)


def _lower_quantile(values: list[float], level: float) -> float:
    """ClickHouse quantileExactLow: the lower median, else the value at rank floor(level * n)."""
    s = sorted(values)
    return s[(len(s) - 1) // 2] if level == 0.5 else s[min(len(s) - 1, math.floor(level * len(s)))]


def check_response_time_per_platform(c: Ctx, rows: list[dict[str, Any]]) -> None:
    acc: dict[str, list[float]] = defaultdict(list)
    for platform, seconds in _responses(c):
        acc[platform].append(seconds)
        acc[""].append(seconds)  # the ROLLUP row: all platforms
    assert [r["platform"] for r in rows] == [*sorted(p for p in acc if p), *([""] if acc else [])]
    for r in rows:
        s = acc[r["platform"]]
        assert r["answered"] == len(s)
        assert r["mean_seconds"] == pytest.approx(sum(s) / len(s), abs=0.051)
        assert r["median_seconds"] == pytest.approx(_lower_quantile(s, 0.5))
        assert r["p90_seconds"] == pytest.approx(_lower_quantile(s, 0.9))
        assert r["share_within_1h"] == _approx(sum(1 for x in s if x <= 3600) / len(s))


def check_funnel_by_campaign(c: Ctx, rows: list[dict[str, Any]]) -> None:
    people: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in c.audience():
        if e["campaign_id"]:
            people[e["campaign_id"]][e["event_type"]].add(e["actor_id"])
    expected = []
    for campaign, steps in people.items():
        clicked, leads, customers = (len(steps[s]) for s in ("click", "lead", "purchase"))
        expected.append((campaign, clicked, leads, customers))
    expected.sort(key=lambda x: (-x[3], -x[1], x[0]))
    assert [(r["campaign_id"], r["clicked"], r["leads"], r["customers"]) for r in rows] == expected
    for r in rows:
        assert r["click_to_lead"] == _approx(r["leads"] / r["clicked"] if r["clicked"] else 0)
        assert r["lead_to_customer"] == _approx(r["customers"] / r["leads"] if r["leads"] else 0)
        assert r["click_to_customer"] == _approx(r["customers"] / r["clicked"] if r["clicked"] else 0)


def _conversions(c: Ctx) -> list[Any]:
    return [
        conv
        for conv in c.w.truth.conversions
        if conv.brand_id == c.brand and c.inside(naive(conv.purchased_at))
    ]


def check_touches_before_purchase(c: Ctx, rows: list[dict[str, Any]]) -> None:
    counts = Counter(conv.touches_before_conversion for conv in _conversions(c))
    assert [(r["touches"], r["customers"]) for r in rows] == sorted(counts.items())
    for r in rows:
        assert r["share"] == _approx(r["customers"] / sum(counts.values()))


def check_attribution(c: Ctx, rows: list[dict[str, Any]]) -> None:
    convs = _conversions(c)
    first = Counter(conv.first_touch_campaign_id or "" for conv in convs)
    last = Counter(conv.last_touch_campaign_id or "" for conv in convs)
    expected = sorted(((k, first[k], last[k]) for k in first | last), key=lambda x: (-(x[1] + x[2]), x[0]))
    assert [
        (r["campaign_id"], r["first_touch_customers"], r["last_touch_customers"]) for r in rows
    ] == expected


def _attributed_unfollows(c: Ctx) -> dict[str, list[tuple[dict[str, Any], float]]]:
    """Each unfollow of the brand → the brand's latest post on that platform at most the window before."""
    posts: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for p in c.w.truth.posts.values():
        if p.brand_id == c.brand:
            posts[p.platform].append((naive(p.posted_at), p.post_id))
    for v in posts.values():
        v.sort()
    out: dict[str, list[tuple[dict[str, Any], float]]] = defaultdict(list)
    for e in c.brand_events():
        if e["event_type"] != "unfollow":
            continue
        candidates = posts[e["platform"]]
        i = bisect.bisect_right(candidates, (e["t"], "\uffff"))
        if i:
            posted_at, post_id = candidates[i - 1]
            age = (e["t"] - posted_at).total_seconds()
            if age <= DEFAULT_ATTRIBUTION_WINDOW_S:
                out[post_id].append((e, age))
    return out


def check_posts_that_lost_fans(c: Ctx, rows: list[dict[str, Any]]) -> None:
    lost = {
        post_id: [(e, age) for e, age in hits if c.inside(e["t"])]
        for post_id, hits in _attributed_unfollows(c).items()
    }
    lost = {k: v for k, v in lost.items() if v}
    top = sorted(lost, key=lambda k: (-len(lost[k]), k))[:10]
    assert [r["post_id"] for r in rows] == top
    clicks = _clicks(c)
    comments: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in c.brand_events():
        if e["event_type"] == "comment" and e["post_id"]:
            comments[e["post_id"]].append(e)
    for r in rows:
        hits, p = lost[r["post_id"]], c.w.truth.posts[r["post_id"]]
        assert (r["unfollows"], r["unfollowers"]) == (len(hits), len({e["actor_id"] for e, _ in hits}))
        assert r["first_unfollow_after_minutes"] == pytest.approx(min(a for _, a in hits) / 60, abs=0.051)
        assert (r["platform"], r["posted_at"], r["engagement"]) == (
            p.platform,
            naive(p.posted_at),
            _engagement(p, clicks),
        )
        assert r["negative_comments"] == sum(e["sentiment_label"] == "negative" for e in comments[p.post_id])
        assert r["complaints"] == sum(bool(e["is_complaint"]) for e in comments[p.post_id])
        text = c.w.by_id[p.post_id]["text"] or ""
        assert (r["text"], bool(r["promotional"])) == (text[:80], _promotional(text))
    if c.brand == "nordpeak-outdoor" and c.since == START:
        # the day's promotional and tone-deaf posts are both among the posts that lost fans
        assert any(r["promotional"] for r in rows) and not all(r["promotional"] for r in rows)


def _alerts(c: Ctx) -> tuple[list[dict[str, Any]], dict[str, datetime]]:
    firing: dict[str, dict[str, Any]] = {}
    resolved: dict[str, datetime] = {}
    for a in c.w.alerts:
        if a["brand_id"] != c.brand:
            continue
        if a["status"] == "resolved":
            resolved[a["alert_id"]] = naive(a["event_time"])
        elif naive(a["window_end"]) > c.since and naive(a["window_start"]) < c.until:
            firing[a["alert_id"]] = a  # on event time; the redelivered copy is the same alert
    ordered = sorted(firing.values(), key=lambda a: (a["window_start"], a["event_time"], a["alert_id"]))
    return ordered, resolved


def check_alerts_with_samples(c: Ctx, rows: list[dict[str, Any]]) -> None:
    firing, resolved = _alerts(c)
    expected = []
    for a in firing:
        texts = a["sample_texts"] + [""] * (len(a["sample_event_ids"]) - len(a["sample_texts"]))
        samples = sorted(zip(a["sample_event_ids"], texts, strict=True)) or [("", "")]
        for event_id, text in samples:
            e = c.w.by_id.get(event_id)
            post = c.w.by_id.get(e["post_id"]) if e and e["post_id"] else None
            expected.append(
                (
                    *_alert_columns(a, resolved),
                    a["summary"],
                    event_id,
                    text,
                    e["platform"] if e else None,
                    e["event_type"] if e else None,
                    e["post_id"] if e else None,
                    ((post or {}).get("text") or "")[:80],
                )
            )
    assert [tuple(r.values()) for r in rows] == expected
    if c.brand == c.w.truth.crises[0].brand_id and c.since == START:
        assert len(rows) == 4 and rows[0]["resolved_at"] is not None  # 3 loaded samples + 1 unknown


def _alert_columns(a: dict[str, Any], resolved: dict[str, Any]) -> tuple[Any, ...]:
    """The columns every alert query starts with: the alert, its window and when it resolved."""
    return (
        a["alert_id"],
        a["kind"],
        a["severity"],
        naive(a["window_start"]),
        naive(a["window_end"]),
        naive(a["event_time"]),
        resolved.get(a["alert_id"]),
    )


def check_alerts_timeline(c: Ctx, rows: list[dict[str, Any]]) -> None:
    firing, resolved = _alerts(c)
    assert [tuple(r.values()) for r in rows] == [
        (
            *_alert_columns(a, resolved),
            a["observed"],
            a["expected"],
            a["score"],
            naive(a["processed_at"]),
        )
        for a in firing
    ]


def check_backlog(c: Ctx, rows: list[dict[str, Any]]) -> None:
    events = c.brand_events()
    items = {
        e["event_id"]: e for e in events if not e["is_brand"] and e["event_type"] in ("comment", "message")
    }
    first_reply: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["is_brand"] and e["event_type"] == "reply" and e["parent_id"] in items:
            first_reply.setdefault(e["parent_id"], e)
    waits = [(first_reply[i]["t"] - items[i]["t"]).total_seconds() for i in first_reply]
    open_ids = [i for i in items if i not in first_reply]
    unfollows = [e for e in events if e["event_type"] == "unfollow"]
    attributed = sum(len(v) for v in _attributed_unfollows(c).values())
    [r] = rows
    assert r["open_items"] == len(open_ids)
    assert r["unanswered_complaints"] == sum(bool(items[i]["is_complaint"]) for i in open_ids)
    assert r["answered_items"] == len(first_reply)
    assert r["answered_complaints"] == sum(bool(items[i]["is_complaint"]) for i in first_reply)
    assert r["mean_response_seconds"] == pytest.approx(sum(waits) / len(waits), abs=0.0011)
    assert (r["unfollows"], r["unfollows_attributed"]) == (len(unfollows), attributed)
    # and the ground truth's view of the same brand
    truth = c.w.truth
    assert r["answered_items"] == sum(1 for x in truth.responses if x.brand_id == c.brand)
    open_comments = sum(1 for i in open_ids if items[i]["event_type"] == "comment")
    assert open_comments == truth.unanswered_comments[c.brand]


def check_complaint_volume(c: Ctx, rows: list[dict[str, Any]]) -> None:
    acc: dict[datetime, Counter[str]] = defaultdict(Counter)
    for e in c.audience():
        n = acc[floor(e["t"], 10)]
        n["all"] += 1
        n["complaints"] += bool(e["is_complaint"])
        n["negative"] += e["sentiment_label"] == "negative"
    assert [(r["window_start"], r["complaints"], r["negative"], r["audience_events"]) for r in rows] == [
        (t, n["complaints"], n["negative"], n["all"]) for t, n in sorted(acc.items())
    ]
    for crisis in c.w.truth.crises:
        start, end = naive(crisis.start), naive(crisis.end)
        if crisis.brand_id == c.brand and c.since <= start and end <= c.until:
            peak = max(rows, key=lambda r: r["complaints"])
            assert floor(start, 10) <= peak["window_start"] < end, "the complaint peak is the injected crisis"


def check_unique_audience(c: Ctx, rows: list[dict[str, Any]]) -> None:
    acc: dict[tuple[date, str], list[dict[str, Any]]] = defaultdict(list)
    for e in c.audience():
        acc[(e["t"].date(), e["platform"])].append(e)
    assert [(r["day"], r["platform"], r["people"], r["events"]) for r in rows] == [
        (day, platform, len({e["actor_id"] for e in es}), len(es))
        for (day, platform), es in sorted(acc.items())
    ]


# Cues of a promotional brand post (Q14, Q20, Q21), written independently of the SQL pattern.
_PROMO_WORDS = ("sale", "deal", "deals", "buy")
_PROMO_PHRASES = (
    "% off",
    "discount",
    "shop now",
    "order now",
    "available now",
    "2-for-1",
    "coupon",
    "promo",
    "giveaway",
    "chance to win",
    "free shipping",
    "limited time",
    "할인",
    "특가",
    "쿠폰",
    "이벤트",
    "1+1",
    "출시",
    "구매",
    "증정",
    "추첨",
    "세일",
    "만나보세요",
)


def _promotional(text: str | None) -> bool:
    lowered = (text or "").lower()
    words = set(re.findall(r"[a-z0-9]+", lowered))
    return any(w in words for w in _PROMO_WORDS) or any(p in lowered for p in _PROMO_PHRASES)


def check_posting_cadence(c: Ctx, rows: list[dict[str, Any]]) -> None:
    acc: dict[datetime, Counter[str]] = defaultdict(Counter)
    for e in c.brand_events():
        if not c.inside(e["t"]):
            continue
        n = acc[floor(e["t"], 60)]
        if e["is_brand"] and e["event_type"] == "post":
            n["posts"] += 1
            n["promotional"] += _promotional(e["text"])
        elif not e["is_brand"] and e["event_type"] == "follow":
            n["follows"] += 1
        elif not e["is_brand"] and e["event_type"] == "unfollow":
            n["unfollows"] += 1
            n["attributed"] += bool(e.get("attributed_post_id"))
        else:
            continue
    expected = [
        (
            t,
            n["posts"],
            n["promotional"],
            n["follows"],
            n["unfollows"],
            n["attributed"],
            n["follows"] - n["unfollows"],
        )
        for t, n in sorted(acc.items())
        if n
    ]
    assert [tuple(r.values()) for r in rows] == expected
    posts = [p for p in c.posts()]
    assert sum(r["brand_posts"] for r in rows) == len(posts)  # the simulator's ground truth
    in_window = sum(
        len([u for u in hits if c.inside(u[0]["t"])]) for hits in _attributed_unfollows(c).values()
    )
    assert sum(r["unfollows_after_posts"] for r in rows) == in_window


def check_promotional_share(c: Ctx, rows: list[dict[str, Any]]) -> None:
    lost = {k: len(v) for k, v in _attributed_unfollows(c).items()}
    acc: dict[str, Counter[str]] = defaultdict(Counter)
    for p in c.posts():
        promo = _promotional(c.w.by_id[p.post_id]["text"])
        n = acc[p.platform]
        n["posts"] += 1
        n["promotional"] += promo
        n["after_promotional" if promo else "after_other"] += lost.get(p.post_id, 0)
    assert [r["platform"] for r in rows] == sorted(acc)
    for r in rows:
        n = acc[r["platform"]]
        other = n["posts"] - n["promotional"]
        assert (r["brand_posts"], r["promotional_posts"]) == (n["posts"], n["promotional"])
        assert r["promotional_share"] == _approx(n["promotional"] / n["posts"])
        assert (r["unfollows_after_promotional"], r["unfollows_after_other"]) == (
            n["after_promotional"],
            n["after_other"],
        )
        per_promo = n["after_promotional"] / n["promotional"] if n["promotional"] else 0
        per_other = n["after_other"] / other if other else 0
        assert r["unfollows_per_promotional_post"] == pytest.approx(per_promo, abs=0.0051)
        assert r["unfollows_per_other_post"] == pytest.approx(per_other, abs=0.0051)


_STOP = frozenset(
    [
        "the",
        "and",
        "you",
        "for",
        "this",
        "that",
        "with",
        "are",
        "was",
        "not",
        "but",
        "have",
        "has",
        "just",
        "your",
        "our",
        "its",
        "it",
        "is",
        "my",
        "me",
        "to",
        "of",
        "in",
        "on",
        "at",
        "an",
        "so",
        "be",
        "no",
        "do",
        "what",
        "why",
        "how",
        "from",
        "they",
        "get",
        "got",
        "all",
        "can",
        "will",
        "im",
        "dont",
        "after",
        "here",
        "there",
        "we",
        "us",
        "or",
        "if",
        "too",
        "very",
        "again",
        "still",
        "any",
        "one",
        "now",
        "as",
        "by",
        "up",
        "out",
    ]
)
_JAMO_ONLY = re.compile(r"[\u3131-\u318e]+")  # ㅠㅠ, ㅋㅋ: emoticons, not words
_PARTICLE = re.compile(
    r"^([\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+?)"
    r"(이에요|예요|에요|했어요|해요|어요|아요|네요|합니다|입니다|했는데|는데|에서|에게|으로|까지|부터|보다|처럼"
    r"|한테|이랑|하고|이나|라도|이|가|은|는|을|를|에|의|도|로|요|과|와|만|한|인)$"
)


def _terms(text: str | None) -> set[str]:
    words = [w for w in re.split(r"[\W_]+", (text or "").lower()) if w]
    stems = (_PARTICLE.sub(r"\1", w) for w in words)
    return {t for t in stems if len(t) >= 2 and t not in _STOP and not _JAMO_ONLY.fullmatch(t)}


def check_rising_terms(c: Ctx, rows: list[dict[str, Any]]) -> None:
    previous = c.since - (c.until - c.since)
    now: Counter[str] = Counter()
    before: Counter[str] = Counter()
    volume = Counter[str]()
    for e in c.brand_events():
        if e["is_brand"] or e["event_type"] not in MESSAGES:
            continue
        if not (e["sentiment_label"] == "negative" or e["is_complaint"]) or not previous <= e["t"] < c.until:
            continue
        current = e["t"] >= c.since
        volume["now" if current else "before"] += 1
        (now if current else before).update(_terms(e["text"]))
    scale = volume["now"] / volume["before"] if volume["before"] else 0.0

    def lift(term: str) -> float:
        return (now[term] + 1) / (before[term] * scale + 1)

    def language(term: str) -> str:
        if re.search(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]", term):
            return "ko"
        return "en" if re.fullmatch(r"[a-z0-9]+", term) else "other"

    per_language: Counter[str] = Counter()
    ranked = []
    for t in sorted((t for t in now if now[t] >= 3), key=lambda t: (-lift(t), -now[t], t)):
        per_language[language(t)] += 1
        if per_language[language(t)] <= 10:
            ranked.append(t)
    assert [(r["term"], r["language"]) for r in rows] == [(t, language(t)) for t in ranked]
    for r in rows:
        assert (r["messages_now"], r["messages_before"]) == (now[r["term"]], before[r["term"]])
        assert (r["volume_now"], r["volume_before"]) == (volume["now"], volume["before"])
        assert r["lift"] == pytest.approx(lift(r["term"]), abs=0.0051)
    crisis = c.w.truth.crises[0]
    if c.brand == crisis.brand_id and c.since <= naive(crisis.start) and naive(crisis.end) <= c.until:
        # the crisis' topic (mislabeling: "mislabeled", "허위 표기", …) rises to the top
        assert rows[0]["messages_before"] == 0 and rows[0]["messages_now"] >= 10
        assert {"en", "ko"} <= {r["language"] for r in rows}


CHECKS: dict[str, Callable[[Ctx, list[dict[str, Any]]], None]] = {
    "Q1": check_engagement_by_platform,
    "Q2": check_sentiment_mix,
    "Q3": check_sentiment_trend,
    "Q4": check_top_posts_by_engagement,
    "Q5": check_top_posts_by_positive_share,
    "Q6": check_viral_cascades,
    "Q7": check_share_velocity,
    "Q8": check_complaints_answered_within_1h,
    "Q9": check_response_time_distribution,
    "Q10": check_response_time_per_platform,
    "Q11": check_funnel_by_campaign,
    "Q12": check_touches_before_purchase,
    "Q13": check_attribution,
    "Q14": check_posts_that_lost_fans,
    "Q15": check_alerts_with_samples,
    "Q16": check_alerts_timeline,
    "Q17": check_backlog,
    "Q18": check_complaint_volume,
    "Q19": check_unique_audience,
    "Q20": check_posting_cadence,
    "Q21": check_promotional_share,
    "Q22": check_rising_terms,
}


# --- raw-text retention ------------------------------------------------------------------------


def test_text_retention_is_adjustable_idempotent_and_clears_old_texts(world: World) -> None:
    def ttl(table: str) -> str:
        [[ddl]] = world.db.query_rows(
            "SELECT create_table_query FROM system.tables"
            " WHERE database = currentDatabase() AND name = {t:String}",
            {"t": table},
        )[1]
        return str(ddl)

    assert "TTL toDateTime(loaded_at) + toIntervalDay(180)" in ttl("events")  # the migration's default
    retention.apply(world.db, 30)
    retention.apply(world.db, 30)  # idempotent
    assert [m.version for m in migrate(world.db)] == []  # and migrate leaves it alone
    for table, columns in (("events", 3), ("alerts", 1)):  # events: text, attributes, complaint_reasons
        assert ttl(table).count("toIntervalDay(30)") == columns, table
        assert "toIntervalDay(180)" not in ttl(table), table
    # A text loaded 31 days ago is cleared at the next merge; the event and its numbers stay.
    world.db.command(
        "INSERT INTO events (event_id, platform, event_type, brand_id, actor_id, is_brand, text, attributes,"
        " language, occurred_at, received_at, enriched_at, sentiment_label, loaded_at) VALUES ('ttl-probe',"
        " 'x', 'comment', 'ttl-probe-brand', 'a', false, 'old words', map('utm_source', 'x'), 'en',"
        " now64(3) - INTERVAL 40 DAY,"
        " now64(3) - INTERVAL 40 DAY, now64(3) - INTERVAL 40 DAY, 'negative', now64(3) - INTERVAL 31 DAY)"
    )
    world.db.command("OPTIMIZE TABLE events FINAL")
    rows = world.query(
        "SELECT text, attributes, sentiment_label FROM events FINAL WHERE event_id = 'ttl-probe'"
    )
    assert rows == [{"text": None, "attributes": {}, "sentiment_label": "negative"}]
    recent = world.query(
        "SELECT countIf(text IS NOT NULL) AS n FROM events FINAL WHERE brand_id != 'ttl-probe-brand'"
    )
    assert recent[0]["n"] == sum(1 for e in world.events if e["text"])  # texts loaded today are kept
    with pytest.raises(ValueError):
        retention.statements(0)


# --- Grafana dashboard -------------------------------------------------------------------------

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "engage-analytics.json"


def _expand_grafana_macros(sql: str, brand: str, since: datetime, until: datetime) -> str:
    """What grafana-clickhouse-datasource sends for ``$__timeFilter``, ``$__timeInterval`` and
    ``${brand:sqlstring}`` (a one-hour interval)."""
    frm, to = (f"toDateTime('{t:%Y-%m-%d %H:%M:%S}', 'UTC')" for t in (since, until))
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"(\1 >= {frm} AND \1 <= {to})", sql)
    sql = re.sub(
        r"\$__timeInterval\(([^)]+)\)", r"toStartOfInterval(toDateTime(\1), INTERVAL 3600 second)", sql
    )
    sql = sql.replace("${brand:sqlstring}", f"'{brand}'")
    assert "$" not in sql, sql
    return sql


def test_grafana_dashboard_runs_on_the_same_tables(world: World) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "grafana-clickhouse-datasource"
    brands = [r["brand_id"] for r in world.query(variables["brand"]["query"])]
    assert set(_brands(world)) <= set(brands)
    brand = world.truth.crises[0].brand_id
    since, until = WINDOWS["day"]
    results: dict[str, list[dict[str, Any]]] = {}
    targets = [(p["title"], t) for p in dashboard["panels"] for t in p["targets"]]
    targets += [(a["name"], a["target"]) for a in dashboard["annotations"]["list"]]
    assert len(targets) >= 12
    for title, target in targets:
        assert "${brand:sqlstring}" in target["rawSql"], title
        results[title] = world.query(_expand_grafana_macros(target["rawSql"], brand, since, until))
        assert results[title], f"panel {title!r} is empty on the simulated day"
    for p in dashboard["panels"]:
        assert p["datasource"]["type"] == "grafana-clickhouse-datasource", p["title"]
    # The panels show the documented numbers.
    params = _params(brand, "day")
    q1 = world.query(DOCUMENTED["Q1"].sql, DOCUMENTED["Q1"].bind(params))
    assert results["Audience interactions"][0]["interactions"] == sum(r["engagements"] for r in q1)
    q17 = world.query(DOCUMENTED["Q17"].sql, DOCUMENTED["Q17"].bind(params))
    assert results["Complaints waiting now"][0]["unanswered_complaints"] == q17[0]["unanswered_complaints"]
    q11 = world.query(DOCUMENTED["Q11"].sql, DOCUMENTED["Q11"].bind(params))
    assert [(r["campaign_id"], r["customers"]) for r in results["Funnel by campaign"]] == [
        (r["campaign_id"], r["customers"]) for r in q11
    ]
