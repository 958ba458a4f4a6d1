"""Deterministic traffic simulator: believable brand conversation plus the ground truth behind it.

``simulate(config)`` is a pure function of its config: the same seed gives the same events (ids,
timestamps, texts) and the same ground truth, so features computed downstream (virality, follower
conversion, response time, complaint spikes) can be checked against what the simulator knows.

The model, per brand and platform:

- **Posts** at a cadence (jittered intervals), opening with a launch post on every platform within
  the first 30 s, so even a one-minute run has conversation. Sometimes a brand posts an over-frequent
  burst (3-5 posts minutes apart) or a tone-deaf "offensive" post; both trigger extra unfollows.
- **Engagement** per post scales with a heavy-tailed per-post virality (lognormal). Likes, comments
  and clicks arrive with lognormal delays after the post (most in the first minutes, a long tail).
- **Shares** form cascades: a Hawkes/branching process where every share spawns Poisson(R) reshares
  after a lognormal delay; R grows with the post's virality and the sharer's follower count
  (Pareto-distributed, so reach is skewed). First-generation shares have ``parent_id`` = the post's
  id (a post's ``post_id`` is its own ``event_id``), deeper ones the parent share's ``event_id``.
  Cascades are capped at ``max_cascade_size`` shares.
- **Follower journeys**: new actors follow, engage, click (campaign + UTM attributes), leave a lead
  and purchase. The planned touch count is 3 + NegBin, mean ``mean_touches``; only
  ``conversion_probability`` of journeys end in a purchase, the rest stop earlier. Journey gaps
  shrink for short runs (median ``min(15 min, duration/60)``) so short runs still convert.
- **Brand replies** to customer comments (complaints and questions most often) after a lognormal
  response time around the brand's median; some are never answered.
- **Crises**: windows in which one brand gets a burst of negative complaints (comments, mentions,
  replies) about one topic; at least one per run of an hour or more unless ``crisis_count`` says so.
- **Baseline**: new followers, churn (unfollows), mentions and direct messages at steady rates.

Only events inside ``[start, start + duration)`` are returned; anything later (a late reply, a
conversion that would come after the window) is censored, and the ground truth is computed from the
returned events, so both always agree. Actor ids are raw simulator ids; ingest pseudonymises them.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.common.events import EVENT_TYPES
from services.sim import texts as tx

SIM_START = datetime(2026, 11, 1, tzinfo=UTC)
SIM_PLATFORMS = ("facebook", "instagram", "x", "youtube")
TOUCH_TYPES = frozenset(
    ("follow", "like", "comment", "reply", "share", "mention", "message", "click", "lead")
)

_PREFIX = {"facebook": "fb", "instagram": "ig", "x": "x", "youtube": "yt"}
_LANG_DECLARED = {"facebook": 0.3, "instagram": 0.2, "x": 0.7, "youtube": 0.6}
_PLATFORM_ACTIVITY = {"facebook": 1.0, "instagram": 1.4, "x": 0.8, "youtube": 0.7}
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_REFERENCE_AUDIENCE = 3000
# Comment mixes as (sentiment, intent, weight).
_REGULAR_MIX = (
    (tx.POSITIVE, tx.PRAISE, 35),
    (tx.NEUTRAL, tx.CHATTER, 25),
    (tx.NEGATIVE, tx.CHATTER, 5),
    (tx.NEUTRAL, tx.QUESTION, 20),
    (tx.NEGATIVE, tx.COMPLAINT, 15),
)
_OFFENSIVE_MIX = (
    (tx.POSITIVE, tx.PRAISE, 5),
    (tx.NEUTRAL, tx.CHATTER, 10),
    (tx.NEGATIVE, tx.CHATTER, 30),
    (tx.NEUTRAL, tx.QUESTION, 5),
    (tx.NEGATIVE, tx.COMPLAINT, 50),
)
_MENTION_MIX = (
    (tx.POSITIVE, tx.PRAISE, 30),
    (tx.NEUTRAL, tx.CHATTER, 25),
    (tx.NEGATIVE, tx.CHATTER, 10),
    (tx.NEUTRAL, tx.QUESTION, 10),
    (tx.NEGATIVE, tx.COMPLAINT, 25),
)
_MESSAGE_MIX = ((tx.NEUTRAL, tx.QUESTION, 55), (tx.NEGATIVE, tx.COMPLAINT, 40), (tx.POSITIVE, tx.PRAISE, 5))
_JOURNEY_MIX = ((tx.POSITIVE, tx.PRAISE, 45), (tx.NEUTRAL, tx.QUESTION, 35), (tx.NEUTRAL, tx.CHATTER, 20))
_SHARE_MIX = ((tx.POSITIVE, tx.PRAISE, 60), (tx.NEUTRAL, tx.CHATTER, 40))
_OFFENSIVE_SHARE_MIX = ((tx.NEGATIVE, tx.CHATTER, 70), (tx.NEGATIVE, tx.COMPLAINT, 30))
_ANSWER_PROBABILITY = {tx.COMPLAINT: 0.7, tx.QUESTION: 0.75, tx.PRAISE: 0.35, tx.CHATTER: 0.1}
_JOURNEY_ENGAGE = (("like", 45), ("comment", 15), ("share", 8), ("click", 20), ("message", 5), ("mention", 7))


@dataclass(frozen=True)
class BrandProfile:
    """One simulated brand: names for texts, audience language mix, where it posts, how fast it answers."""

    brand_id: str
    name: str
    name_ko: str
    category: str  # a texts.VOCABULARY category: cafe, telecom, outdoor
    korean_share: float  # share of its audience writing Korean
    platform_weights: tuple[tuple[str, float], ...]  # share of posts (and journeys) per platform
    followers: int  # brand account followers on its biggest platform
    response_median_seconds: float
    order_value_krw: tuple[int, int]
    crisis_topic: str

    def weight(self, platform: str) -> float:
        return dict(self.platform_weights).get(platform, 0.0)


DEFAULT_BRANDS: tuple[BrandProfile, ...] = (
    BrandProfile(
        "cafe-lumi",
        "Lumi Coffee",
        "루미커피",
        "cafe",
        0.85,
        (("instagram", 0.45), ("facebook", 0.2), ("x", 0.15), ("youtube", 0.2)),
        180_000,
        600.0,
        (4_500, 32_000),
        "hygiene",
    ),
    BrandProfile(
        "hanbit-mobile",
        "Hanbit Mobile",
        "한빛모바일",
        "telecom",
        0.9,
        (("facebook", 0.3), ("instagram", 0.25), ("x", 0.25), ("youtube", 0.2)),
        950_000,
        1500.0,
        (33_000, 89_000),
        "network-outage",
    ),
    BrandProfile(
        "nordpeak-outdoor",
        "Nordpeak",
        "노르피크",
        "outdoor",
        0.35,
        (("instagram", 0.35), ("youtube", 0.3), ("facebook", 0.2), ("x", 0.15)),
        420_000,
        4200.0,
        (59_000, 399_000),
        "mislabeling",
    ),
)


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. ``duration_seconds`` is simulated time, not wall-clock time."""

    seed: int = 7
    duration_seconds: float = 3600.0
    start: datetime = SIM_START
    brands: tuple[BrandProfile, ...] = DEFAULT_BRANDS
    platforms: tuple[str, ...] = SIM_PLATFORMS
    audience_size: int = _REFERENCE_AUDIENCE  # existing followers per platform; activity scales with it
    posts_per_brand_hour: float = 0.75
    base_virality: float = 1.0  # multiplies every post's virality (engagement and reshare ratio)
    max_cascade_size: int = 400
    journeys_per_brand_hour: float = 16.0
    conversion_probability: float = 0.35
    mean_touches: float = 7.0  # planned touches before purchase (>= 3: follow ... click, lead)
    crisis_count: int | None = None  # None: Poisson(crises_per_day), at least one in runs >= 1 h
    crisis_day: int | None = None  # 1-based simulated day every crisis falls in; None: anywhere in the run
    crises_per_day: float = 1.5
    offensive_post_probability: float = 0.03
    burst_probability: float = 0.06

    def __post_init__(self) -> None:
        if self.duration_seconds <= 0:
            raise ValueError("duration_seconds must be positive")
        if not self.brands or not self.platforms:
            raise ValueError("at least one brand and one platform")
        if unknown := set(self.platforms) - set(SIM_PLATFORMS):
            raise ValueError(f"unknown platforms: {sorted(unknown)}")
        if self.crisis_count is not None and self.crisis_count < 0:
            raise ValueError("crisis_count must be >= 0")
        days = math.ceil(self.duration_seconds / 86_400)
        if self.crisis_day is not None and not 1 <= self.crisis_day <= days:
            raise ValueError(f"crisis_day {self.crisis_day} is outside the run (days 1-{days})")
        if self.mean_touches <= 3:
            raise ValueError("mean_touches must exceed 3 (follow, click and lead are always touches)")
        # Normalised, so equal configs (60 vs 60.0, naive vs UTC) give the same event ids.
        start = self.start.replace(tzinfo=UTC) if self.start.tzinfo is None else self.start.astimezone(UTC)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "duration_seconds", float(self.duration_seconds))


@dataclass(frozen=True)
class PostTruth:
    """One brand post. ``shares`` counts direct (first-generation) shares, ``cascade_size`` all of them."""

    post_id: str
    brand_id: str
    platform: str
    posted_at: str
    campaign_id: str | None
    virality: float
    offensive: bool
    in_burst: bool
    likes: int
    comments: int
    shares: int
    cascade_size: int
    cascade_depth: int  # generations; first-generation shares are depth 1; 0 without shares
    cascade_breadth: int  # most shares at one depth
    unique_reach: int  # sum of actor_followers over the distinct sharers
    induced_unfollows: int  # unfollows the simulator caused with this post (offensive or over-frequent)


@dataclass(frozen=True)
class ConversionTruth:
    """An actor's first purchase from a brand.

    ``touches_before_conversion`` counts that actor's brand-directed events (same brand_id and
    actor_id, any platform) strictly before the purchase in event order: follow, like, comment,
    reply, share, mention, message, click and lead. Unfollows and the purchase itself do not count.
    First/last touch are the earliest/latest of those touches carrying a post_id (campaign_id).
    """

    brand_id: str
    actor_id: str
    platform: str
    touches_before_conversion: int
    seconds_to_convert: float  # from the first touch to the purchase
    first_touch_at: str
    purchased_at: str
    first_touch_post_id: str | None
    last_touch_post_id: str | None
    first_touch_campaign_id: str | None
    last_touch_campaign_id: str | None


@dataclass(frozen=True)
class ResponseTruth:
    """A customer comment the brand answered: ``response_seconds`` = reply time - comment time."""

    comment_event_id: str
    reply_event_id: str
    brand_id: str
    platform: str
    response_seconds: float


@dataclass(frozen=True)
class CrisisTruth:
    """An injected reputation crisis: ``crisis_events`` negative complaints for one brand in [start, end)."""

    crisis_id: str
    brand_id: str
    topic: str
    start: str
    end: str
    crisis_events: int


@dataclass(frozen=True)
class GroundTruth:
    seed: int
    start: str
    duration_seconds: float
    event_counts: dict[str, int]
    posts: dict[str, PostTruth]
    conversions: list[ConversionTruth]
    responses: list[ResponseTruth]
    unanswered_comments: dict[str, int]  # per brand: customer comments with no brand reply in the window
    crises: list[CrisisTruth]

    @property
    def mean_touches_before_conversion(self) -> float | None:
        touches = [c.touches_before_conversion for c in self.conversions]
        return sum(touches) / len(touches) if touches else None

    def to_json(self) -> str:
        """Deterministic JSON: sorted keys, floats rounded at construction (ms or 4 digits)."""
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode() + "\n"


@dataclass
class Simulation:
    config: SimulationConfig
    events: list[dict[str, Any]]
    ground_truth: GroundTruth


def simulate(config: SimulationConfig) -> Simulation:
    """Run the simulation; events are canonical JSON dicts sorted by (occurred_at, event_id)."""
    return _Simulator(config).run()


# --- internals ----------------------------------------------------------------------------------


class _Ev:
    """An event under construction: time in ms from start, links to other events by reference."""

    __slots__ = ("crisis", "f", "id", "intent", "lang", "parent", "post", "seq", "t")

    def __init__(self, t: int, seq: int, f: dict[str, Any], parent: _Ev | None, post: _Ev | None) -> None:
        self.t, self.seq, self.f, self.parent, self.post = t, seq, f, parent, post
        self.id = ""
        self.intent: str | None = None
        self.lang = tx.EN
        self.crisis: str | None = None


@dataclass
class _Post:
    ev: _Ev
    brand: BrandProfile
    platform: str
    virality: float
    offensive: bool
    in_burst: bool
    campaign_id: str | None
    induced_unfollows: list[_Ev] = field(default_factory=list)


@dataclass
class _Crisis:
    crisis_id: str
    brand: BrandProfile
    start: int
    end: int
    events: list[_Ev] = field(default_factory=list)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def _delay_ms(rng: random.Random, median_s: float, sigma: float) -> int:
    """A lognormal delay, at least 1 ms so an effect always follows its cause."""
    return max(1, int(rng.lognormvariate(math.log(median_s), sigma) * 1000))


def _pick(rng: random.Random, mix: Sequence[tuple[str, str, int]]) -> tuple[str, str]:
    sentiment, intent, _ = rng.choices(mix, weights=[m[2] for m in mix])[0]
    return sentiment, intent


class _Simulator:
    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        seed = config.seed
        self.rng_posts = random.Random(f"{seed}:posts")
        self.rng_engage = random.Random(f"{seed}:engage")
        self.rng_base = random.Random(f"{seed}:baseline")
        self.rng_journey = random.Random(f"{seed}:journeys")
        self.rng_crisis = random.Random(f"{seed}:crises")
        self.rng_reply = random.Random(f"{seed}:replies")
        self.rng_text = random.Random(f"{seed}:texts")
        self.dur = int(config.duration_seconds * 1000)
        self.scale = config.audience_size / _REFERENCE_AUDIENCE
        self.events: list[_Ev] = []
        self.posts: list[_Post] = []
        self.post_index: dict[tuple[str, str], tuple[list[int], list[_Post]]] = {}
        self.crises: list[_Crisis] = []
        self.comments: list[_Ev] = []
        # Existing followers per platform: Korean writers are ids [0, N), English [N, 2N).
        n = config.audience_size
        pool_rng = random.Random(f"{seed}:audience")
        self.pool_followers = {p: [self._followers(pool_rng) for _ in range(2 * n)] for p in config.platforms}
        self.next_actor = dict.fromkeys(config.platforms, 2 * n)
        digest = hashlib.sha256(repr(config).encode()).hexdigest()[:6]
        self.id_prefix = f"sim-{seed}-{digest}-"

    # helpers

    @staticmethod
    def _followers(rng: random.Random) -> int:
        return min(5_000_000, int(40 * rng.paretovariate(1.2)))

    def emit(self, t: int, fields: dict[str, Any], parent: _Ev | None = None, post: _Ev | None = None) -> _Ev:
        ev = _Ev(t, len(self.events), fields, parent, post)
        self.events.append(ev)
        return ev

    def pool_actor(self, rng: random.Random, brand: BrandProfile, platform: str) -> tuple[str, int, str]:
        """An existing follower; low ids are the most active (skewed activity)."""
        n = self.cfg.audience_size
        lang = tx.KO if rng.random() < brand.korean_share else tx.EN
        i = int(n * rng.random() ** 1.8) + (0 if lang == tx.KO else n)
        return f"{_PREFIX[platform]}-{i:06d}", self.pool_followers[platform][i], lang

    def new_actor(self, rng: random.Random, brand: BrandProfile, platform: str) -> tuple[str, int, str]:
        i = self.next_actor[platform]
        self.next_actor[platform] = i + 1
        lang = tx.KO if rng.random() < brand.korean_share else tx.EN
        return f"{_PREFIX[platform]}-{i:06d}", self._followers(rng), lang

    def base_fields(
        self, brand: BrandProfile, platform: str, event_type: str, actor: str, followers: int | None
    ) -> dict[str, Any]:
        return {
            "platform": platform,
            "event_type": event_type,
            "brand_id": brand.brand_id,
            "account_id": f"{brand.brand_id}@{platform}",
            "actor_id": actor,
            "is_brand": False,
            "actor_followers": followers,
            "text": None,
            "lang": None,
            "campaign_id": None,
            "attributes": {"source": "simulator"},
        }

    def with_text(self, ev: _Ev, text: tx.Text) -> _Ev:
        ev.f["text"] = text.text
        if self.rng_text.random() < _LANG_DECLARED[ev.f["platform"]]:
            ev.f["lang"] = text.lang
        ev.f["attributes"].update(sim_sentiment=text.sentiment, sim_intent=text.intent, sim_lang=text.lang)
        ev.intent, ev.lang = text.intent, text.lang
        return ev

    def audience_text(
        self, brand: BrandProfile, lang: str, mix: Sequence[tuple[str, str, int]], crisis: bool = False
    ) -> tx.Text:
        sentiment, intent = _pick(self.rng_text, mix)
        return tx.audience_text(
            self.rng_text, lang, brand.category, (brand.name, brand.name_ko), sentiment, intent, crisis
        )

    def recent_post(self, rng: random.Random, brand: BrandProfile, platform: str, t: int) -> _Post | None:
        """One of the three latest posts before ``t``, the newest most likely."""
        times, posts = self.post_index.get((brand.brand_id, platform), ([], []))
        k = bisect.bisect_left(times, t)
        if k == 0:
            return None
        candidates = posts[max(0, k - 3) : k]
        return rng.choices(candidates, weights=[1, 2, 4][-len(candidates) :])[0]

    # model

    def run(self) -> Simulation:
        self.make_posts()
        for post in self.posts:
            self.engage(post)
        self.baseline()
        self.journeys()
        self.make_crises()
        self.follow_ups()
        return self.finish()

    def make_posts(self) -> None:
        rng, cfg = self.rng_posts, self.cfg
        for brand in cfg.brands:
            campaigns = [f"{brand.brand_id}-{c}" for c in ("winter-launch", "holiday-gifts", "loyalty")]
            for platform in cfg.platforms:
                rate = cfg.posts_per_brand_hour * brand.weight(platform)
                if rate <= 0:
                    continue
                interval = _HOUR_MS / rate
                t = rng.uniform(0, 30_000)  # launch post
                launch = True
                while t < self.dur:
                    burst = 1 if launch or rng.random() >= cfg.burst_probability else rng.randint(3, 5)
                    for _ in range(burst):
                        self.post(rng, brand, platform, int(t), burst > 1, campaigns)
                        if burst > 1:
                            t += rng.uniform(180_000, 720_000)
                    launch = False
                    t += interval * rng.uniform(0.7, 1.3)
        for post in self.posts:
            times, posts = self.post_index.setdefault((post.brand.brand_id, post.platform), ([], []))
            times.append(post.ev.t)
            posts.append(post)

    def post(
        self,
        rng: random.Random,
        brand: BrandProfile,
        platform: str,
        t: int,
        in_burst: bool,
        campaigns: list[str],
    ) -> None:
        if t >= self.dur:
            return
        offensive = rng.random() < self.cfg.offensive_post_probability
        lang = tx.KO if rng.random() < brand.korean_share else tx.EN
        campaign = rng.choice(campaigns) if rng.random() < 0.7 else None
        virality = self.cfg.base_virality * rng.lognormvariate(-0.5, 1.0) * (2.0 if offensive else 1.0)
        account = f"{brand.brand_id}@{platform}"
        f = self.base_fields(
            brand, platform, "post", account, int(brand.followers * _PLATFORM_ACTIVITY[platform])
        )
        f.update(is_brand=True, campaign_id=campaign)
        kind = "offensive" if offensive else "burst" if in_burst else "regular"
        f["attributes"]["sim_post_kind"] = kind
        ev = self.emit(t, f)
        ev.post = ev
        self.with_text(
            ev, tx.post_text(self.rng_text, lang, brand.category, (brand.name, brand.name_ko), offensive)
        )
        self.posts.append(_Post(ev, brand, platform, virality, offensive, in_burst, campaign))

    def engage(self, post: _Post) -> None:
        rng, brand, platform, t0 = self.rng_engage, post.brand, post.platform, post.ev.t
        act = self.scale * _PLATFORM_ACTIVITY[platform] * post.virality
        mix = _OFFENSIVE_MIX if post.offensive else _REGULAR_MIX
        for _ in range(_poisson(rng, 200 * act)):
            t = t0 + _delay_ms(rng, 120, 1.6)
            if t >= self.dur:
                continue
            actor, followers, _ = self.pool_actor(rng, brand, platform)
            ev = self.emit(t, self.base_fields(brand, platform, "like", actor, followers), post=post.ev)
            if platform == "facebook":
                angry = post.offensive and rng.random() < 0.6
                ev.f["attributes"]["reaction"] = (
                    "angry" if angry else rng.choice(("like", "like", "love", "haha"))
                )
        for _ in range(_poisson(rng, 20 * act)):
            t = t0 + _delay_ms(rng, 240, 1.5)
            if t >= self.dur:
                continue
            actor, followers, lang = self.pool_actor(rng, brand, platform)
            ev = self.emit(t, self.base_fields(brand, platform, "comment", actor, followers), post=post.ev)
            self.with_text(ev, self.audience_text(brand, lang, mix))
            ev.f["campaign_id"] = post.campaign_id
            self.comments.append(ev)
        for _ in range(_poisson(rng, 8 * act)):
            t = t0 + _delay_ms(rng, 180, 1.6)
            if t < self.dur:
                actor, followers, _ = self.pool_actor(rng, brand, platform)
                self.click(t, brand, platform, actor, followers, post)
        self.cascade(post, act)
        unfollows = (25 if post.offensive else 0) + (4 if post.in_burst else 0)
        for _ in range(_poisson(rng, unfollows * self.scale)):
            t = t0 + _delay_ms(rng, 1800 if post.offensive else 1200, 0.8)
            if t < self.dur:
                actor, followers, _ = self.pool_actor(rng, brand, platform)
                post.induced_unfollows.append(
                    self.emit(t, self.base_fields(brand, platform, "unfollow", actor, followers))
                )

    def click(
        self, t: int, brand: BrandProfile, platform: str, actor: str, followers: int, post: _Post
    ) -> _Ev:
        campaign = post.campaign_id or f"{brand.brand_id}-organic"
        ev = self.emit(t, self.base_fields(brand, platform, "click", actor, followers), post=post.ev)
        ev.f["campaign_id"] = campaign
        ev.f["attributes"].update(utm_source=platform, utm_medium="social", utm_campaign=campaign)
        return ev

    def cascade(self, post: _Post, act: float) -> None:
        """Hawkes branching: shares in time order, each spawning Poisson(R * follower boost) reshares."""
        rng, brand, platform = self.rng_engage, post.brand, post.platform
        ratio = min(0.9, 0.5 * math.sqrt(post.virality))
        heap: list[tuple[int, int, _Ev]] = []
        order = 0
        for _ in range(_poisson(rng, 4 * act)):
            order += 1
            heapq.heappush(heap, (post.ev.t + _delay_ms(rng, 240, 1.4), order, post.ev))
        made = 0
        while heap and made < self.cfg.max_cascade_size:
            t, _, parent = heapq.heappop(heap)
            if t >= self.dur:
                break
            actor, followers, lang = self.pool_actor(rng, brand, platform)
            ev = self.emit(
                t, self.base_fields(brand, platform, "share", actor, followers), parent=parent, post=post.ev
            )
            made += 1
            if rng.random() < 0.25:
                self.with_text(
                    ev,
                    self.audience_text(brand, lang, _OFFENSIVE_SHARE_MIX if post.offensive else _SHARE_MIX),
                )
            boost = min(2.5, max(0.5, (followers / 70) ** 0.25))
            for _ in range(_poisson(rng, ratio * boost)):
                order += 1
                heapq.heappush(heap, (t + _delay_ms(rng, 240, 1.4), order, ev))

    def baseline(self) -> None:
        """Steady per (brand, platform) rates: new followers, churn, mentions, direct messages."""
        rng, hours = self.rng_base, self.dur / _HOUR_MS
        for brand in self.cfg.brands:
            for platform in self.cfg.platforms:
                act = self.scale * _PLATFORM_ACTIVITY[platform] * hours
                for _ in range(_poisson(rng, 5 * act)):
                    actor, followers, _ = self.new_actor(rng, brand, platform)
                    self.emit(
                        rng.randrange(self.dur), self.base_fields(brand, platform, "follow", actor, followers)
                    )
                for _ in range(_poisson(rng, 1.5 * act)):
                    actor, followers, _ = self.pool_actor(rng, brand, platform)
                    self.emit(
                        rng.randrange(self.dur),
                        self.base_fields(brand, platform, "unfollow", actor, followers),
                    )
                for _ in range(_poisson(rng, 3 * act)):
                    actor, followers, lang = self.pool_actor(rng, brand, platform)
                    f = self.base_fields(brand, platform, "mention", actor, followers)
                    f["account_id"] = None  # found by listening, not on an owned account
                    self.with_text(
                        self.emit(rng.randrange(self.dur), f), self.audience_text(brand, lang, _MENTION_MIX)
                    )
                for _ in range(_poisson(rng, 1 * act)):
                    actor, followers, lang = self.pool_actor(rng, brand, platform)
                    f = self.base_fields(brand, platform, "message", actor, followers)
                    self.with_text(
                        self.emit(rng.randrange(self.dur), f), self.audience_text(brand, lang, _MESSAGE_MIX)
                    )

    def journeys(self) -> None:
        """follow → engage → click → lead → purchase; touches = 3 + NegBin(r=2), mean ``mean_touches``."""
        rng, cfg = self.rng_journey, self.cfg
        gap_median = max(1.0, min(900.0, cfg.duration_seconds / 60))
        extra_mean = cfg.mean_touches - 3
        engage_types = [e[0] for e in _JOURNEY_ENGAGE]
        engage_weights = [e[1] for e in _JOURNEY_ENGAGE]
        for brand in cfg.brands:
            for platform in cfg.platforms:
                times, _ = self.post_index.get((brand.brand_id, platform), ([], []))
                if not times:
                    continue
                n = _poisson(rng, cfg.journeys_per_brand_hour * brand.weight(platform) * self.dur / _HOUR_MS)
                for _ in range(n):
                    t = rng.randint(times[0] + 1, max(times[0] + 1, self.dur - 1))
                    touches = 3 + _poisson(rng, rng.gammavariate(2.0, extra_mean / 2.0))
                    steps = [
                        "follow",
                        *rng.choices(engage_types, engage_weights, k=touches - 3),
                        "click",
                        "lead",
                    ]
                    if rng.random() < cfg.conversion_probability:
                        steps.append("purchase")
                    else:
                        steps = steps[: rng.randint(1, touches - 1)]
                    self.journey(rng, brand, platform, t, steps, gap_median)

    def journey(
        self,
        rng: random.Random,
        brand: BrandProfile,
        platform: str,
        t: int,
        steps: list[str],
        gap_median: float,
    ) -> None:
        actor, followers, lang = self.new_actor(rng, brand, platform)
        campaign: str | None = None
        for i, step in enumerate(steps):
            if i:
                t += _delay_ms(rng, gap_median, 0.8)
            if t >= self.dur:
                return
            post = self.recent_post(rng, brand, platform, t)
            if step == "click" and post is not None:
                campaign = self.click(t, brand, platform, actor, followers, post).f["campaign_id"]
                continue
            f = self.base_fields(brand, platform, step, actor, followers)
            on_post = step in ("like", "comment", "share", "click") and post is not None
            ev = self.emit(
                t,
                f,
                parent=post.ev if step == "share" and post else None,
                post=post.ev if on_post and post else None,
            )
            if step in ("comment", "message", "mention"):
                self.with_text(ev, self.audience_text(brand, lang, _JOURNEY_MIX))
                if step == "comment":
                    self.comments.append(ev)
                if step == "mention":
                    f["account_id"] = None
            elif step == "share" and rng.random() < 0.3:
                self.with_text(ev, self.audience_text(brand, lang, _SHARE_MIX))
            elif step == "lead":
                f["campaign_id"] = campaign
                f["attributes"]["lead_type"] = rng.choice(("newsletter", "store-visit", "consultation"))
            elif step == "purchase":
                low, high = brand.order_value_krw
                f["campaign_id"] = campaign
                f["attributes"].update(currency="KRW", order_value=str(rng.randrange(low, high, 500)))

    def make_crises(self) -> None:
        rng, cfg = self.rng_crisis, self.cfg
        if cfg.crisis_count is not None:
            n = cfg.crisis_count
        else:
            n = _poisson(rng, cfg.crises_per_day * cfg.duration_seconds / 86_400)
            n = max(n, 1) if cfg.duration_seconds >= 3600 else n
        for k in range(n):
            brand = rng.choice(cfg.brands)
            length = int(min(0.25 * self.dur, max(60_000, rng.lognormvariate(math.log(45 * 60_000), 0.35))))
            if cfg.crisis_day is None:
                start = int(rng.uniform(0.1 * self.dur, max(0.1 * self.dur, 0.9 * self.dur - length)))
            else:  # inside the chosen day, away from its edges (and from the run's end)
                lo = (cfg.crisis_day - 1) * _DAY_MS
                span = min(_DAY_MS, self.dur - lo)
                length = int(min(length, 0.5 * span))
                start = lo + int(rng.uniform(0.1 * span, max(0.1 * span, 0.9 * span - length)))
            crisis = _Crisis(f"crisis-{k + 1}", brand, start, min(self.dur, start + length))
            self.crises.append(crisis)
            platforms = [p for p in cfg.platforms if brand.weight(p) > 0] or list(cfg.platforms)
            weights = [brand.weight(p) or 1.0 for p in platforms]
            names = (brand.name, brand.name_ko)
            for _ in range(_poisson(rng, 350 * self.scale * (crisis.end - crisis.start) / _HOUR_MS)):
                t = crisis.start + int((crisis.end - crisis.start) * rng.random() ** 1.3)
                roll = rng.random()
                parent = rng.choice(crisis.events[-20:]) if roll < 0.1 and crisis.events else None
                platform = parent.f["platform"] if parent else rng.choices(platforms, weights)[0]
                post = self.recent_post(rng, brand, platform, t)
                kind = "reply" if parent else "mention" if roll < 0.4 or post is None else "comment"
                actor, followers, lang = self.pool_actor(rng, brand, platform)
                f = self.base_fields(brand, platform, kind, actor, followers)
                if kind == "mention":
                    f["account_id"] = None
                elif parent is not None:
                    f["account_id"] = parent.f["account_id"]
                text = tx.audience_text(
                    self.rng_text, lang, brand.category, names, tx.NEGATIVE, tx.COMPLAINT, crisis=True
                )
                on_post = parent.post if parent else post.ev if kind == "comment" and post else None
                ev = self.emit(t, f, parent=parent, post=on_post)
                self.with_text(ev, text)
                ev.f["attributes"]["sim_crisis"] = crisis.crisis_id
                ev.crisis = crisis.crisis_id
                if kind == "comment":
                    self.comments.append(ev)
                if parent is None or kind == "comment":
                    crisis.events.append(ev)

    def follow_ups(self) -> None:
        """Brand replies (with response times) and audience replies to customer comments."""
        rng = self.rng_reply
        windows = defaultdict(list)
        for c in self.crises:
            windows[c.brand.brand_id].append((c.start, c.end))
        brands = {b.brand_id: b for b in self.cfg.brands}
        for comment in list(self.comments):
            brand = brands[comment.f["brand_id"]]
            platform = comment.f["platform"]
            intent = comment.intent or tx.CHATTER
            overloaded = any(s <= comment.t < e for s, e in windows[brand.brand_id])
            p_answer = _ANSWER_PROBABILITY[intent] * (0.5 if overloaded else 1.0)
            if rng.random() < p_answer:
                median = brand.response_median_seconds * (2.0 if overloaded else 1.0)
                t = comment.t + max(20_000, _delay_ms(rng, median, 1.0))
                if t < self.dur:
                    account = f"{brand.brand_id}@{platform}"
                    f = self.base_fields(
                        brand, platform, "reply", account, int(brand.followers * _PLATFORM_ACTIVITY[platform])
                    )
                    f.update(is_brand=True, campaign_id=comment.f["campaign_id"])
                    text = tx.brand_reply_text(
                        self.rng_text, comment.lang, brand.category, (brand.name, brand.name_ko), intent
                    )
                    self.with_text(self.emit(t, f, parent=comment, post=comment.post), text)
            if rng.random() < 0.12:
                t = comment.t + _delay_ms(rng, 240, 1.2)
                if t < self.dur:
                    actor, followers, lang = self.pool_actor(rng, brand, platform)
                    complaint = intent == tx.COMPLAINT
                    sentiment, reply_intent = (
                        (tx.NEGATIVE, tx.COMPLAINT) if complaint else (tx.NEUTRAL, tx.CHATTER)
                    )
                    text = tx.audience_text(
                        self.rng_text,
                        lang,
                        brand.category,
                        (brand.name, brand.name_ko),
                        sentiment,
                        reply_intent,
                        crisis=comment.crisis is not None,
                        prefix=tx.ME_TOO[lang] if complaint else "",
                    )
                    ev = self.emit(
                        t,
                        self.base_fields(brand, platform, "reply", actor, followers),
                        parent=comment,
                        post=comment.post,
                    )
                    self.with_text(ev, text)

    # output

    def iso(self, t: int) -> str:
        return (
            (self.cfg.start + timedelta(milliseconds=t))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )

    def finish(self) -> Simulation:
        kept = sorted((e for e in self.events if 0 <= e.t < self.dur), key=lambda e: (e.t, e.seq))
        for n, ev in enumerate(kept, start=1):
            ev.id = f"{self.id_prefix}{n:08d}"
        out = []
        for ev in kept:
            d = {"event_id": ev.id, **ev.f, "occurred_at": self.iso(ev.t)}
            d["post_id"] = ev.post.id if ev.post is not None else None
            d["parent_id"] = ev.parent.id if ev.parent is not None else None
            out.append(d)
        return Simulation(self.cfg, out, self.ground_truth(kept))

    def ground_truth(self, kept: list[_Ev]) -> GroundTruth:
        counts = Counter(e.f["event_type"] for e in kept)
        posts: dict[str, PostTruth] = {}
        per_post: dict[int, dict[str, Any]] = {}
        depth: dict[int, int] = {}
        for ev in kept:
            kind = ev.f["event_type"]
            if kind == "post":
                per_post[id(ev)] = {"like": 0, "comment": 0, "direct": 0, "depths": Counter(), "reach": {}}
                depth[id(ev)] = 0
            elif ev.post is not None and kind in ("like", "comment", "share") and id(ev.post) in per_post:
                stats = per_post[id(ev.post)]
                if kind != "share":
                    stats[kind] += 1
                    continue
                assert ev.parent is not None
                d = depth[id(ev)] = depth[id(ev.parent)] + 1
                stats["depths"][d] += 1
                stats["direct"] += d == 1
                stats["reach"].setdefault(ev.f["actor_id"], ev.f["actor_followers"] or 0)
        for p in self.posts:
            if id(p.ev) not in per_post:
                continue
            s = per_post[id(p.ev)]
            depths: Counter[int] = s["depths"]
            posts[p.ev.id] = PostTruth(
                post_id=p.ev.id,
                brand_id=p.brand.brand_id,
                platform=p.platform,
                posted_at=self.iso(p.ev.t),
                campaign_id=p.campaign_id,
                virality=round(p.virality, 4),
                offensive=p.offensive,
                in_burst=p.in_burst,
                likes=s["like"],
                comments=s["comment"],
                shares=s["direct"],
                cascade_size=sum(depths.values()),
                cascade_depth=max(depths, default=0),
                cascade_breadth=max(depths.values(), default=0),
                unique_reach=sum(s["reach"].values()),
                induced_unfollows=sum(1 for u in p.induced_unfollows if u.t < self.dur),
            )
        crises = [
            CrisisTruth(
                c.crisis_id,
                c.brand.brand_id,
                c.brand.crisis_topic,
                self.iso(c.start),
                self.iso(c.end),
                sum(1 for e in kept if e.crisis == c.crisis_id),
            )
            for c in self.crises
        ]
        responses, unanswered = self.responses(kept)
        return GroundTruth(
            seed=self.cfg.seed,
            start=self.iso(0),
            duration_seconds=float(self.cfg.duration_seconds),
            event_counts={t: counts.get(t, 0) for t in EVENT_TYPES},
            posts=dict(sorted(posts.items())),
            conversions=self.conversions(kept),
            responses=responses,
            unanswered_comments=unanswered,
            crises=crises,
        )

    def conversions(self, kept: list[_Ev]) -> list[ConversionTruth]:
        touches: dict[tuple[str, str], list[_Ev]] = defaultdict(list)
        result: dict[tuple[str, str], ConversionTruth] = {}
        for ev in kept:
            f = ev.f
            if f["is_brand"]:
                continue
            key = (f["brand_id"], f["actor_id"])
            if key in result:
                continue
            if f["event_type"] in TOUCH_TYPES:
                touches[key].append(ev)
            elif f["event_type"] == "purchase":
                seen = touches.get(key, [])
                with_post = [e for e in seen if e.post is not None]
                with_campaign = [e for e in seen if e.f["campaign_id"]]
                first_t = seen[0].t if seen else ev.t
                result[key] = ConversionTruth(
                    brand_id=key[0],
                    actor_id=key[1],
                    platform=f["platform"],
                    touches_before_conversion=len(seen),
                    seconds_to_convert=(ev.t - first_t) / 1000,
                    first_touch_at=self.iso(first_t),
                    purchased_at=self.iso(ev.t),
                    first_touch_post_id=with_post[0].post.id if with_post and with_post[0].post else None,
                    last_touch_post_id=with_post[-1].post.id if with_post and with_post[-1].post else None,
                    first_touch_campaign_id=with_campaign[0].f["campaign_id"] if with_campaign else None,
                    last_touch_campaign_id=with_campaign[-1].f["campaign_id"] if with_campaign else None,
                )
        return [result[k] for k in sorted(result)]

    def responses(self, kept: list[_Ev]) -> tuple[list[ResponseTruth], dict[str, int]]:
        answered: dict[int, _Ev] = {}
        for ev in kept:
            parent = ev.parent
            if ev.f["event_type"] == "reply" and ev.f["is_brand"] and parent is not None:
                answered.setdefault(id(parent), ev)
        responses: list[ResponseTruth] = []
        unanswered = {b.brand_id: 0 for b in self.cfg.brands}
        for ev in kept:
            if ev.f["event_type"] != "comment" or ev.f["is_brand"]:
                continue
            reply = answered.get(id(ev))
            if reply is None:
                unanswered[ev.f["brand_id"]] += 1
                continue
            responses.append(
                ResponseTruth(ev.id, reply.id, ev.f["brand_id"], ev.f["platform"], (reply.t - ev.t) / 1000)
            )
        return responses, unanswered
