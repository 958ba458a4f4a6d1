"""The bundled demo scenario: a deterministic, bilingual day of brand conversation with one spike.

Used by ``make run`` and the end-to-end test. It covers every platform and event type, Korean and
English texts, follower journeys (follow → click → lead → purchase) and a complaint spike for one
brand packed into a single minute, so the volume alert has something real to catch. Same seed → same
events, ids and timestamps, so replaying it is idempotent downstream.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.common.events import EVENT_TYPES

if TYPE_CHECKING:
    from services.sim.simulator import Simulation

DEMO_START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
BRANDS = ("cafe-lumi", "hanbit-mobile", "nordpeak-outdoor")
PLATFORMS = ("facebook", "instagram", "x", "youtube")
SPIKE_BRAND = "hanbit-mobile"

KO_POSITIVE = (
    "이번 신제품 정말 마음에 들어요!",
    "배송 빠르고 포장도 꼼꼼해요 👍",
    "매장 직원분들 너무 친절하세요",
    "가성비 최고, 또 살게요",
    "라떼 맛이 진짜 부드러워요",
)
KO_NEGATIVE = (
    "배송이 일주일째 안 와요. 언제 오나요?",
    "환불 요청했는데 답이 없네요",
    "업데이트 후에 배터리가 너무 빨리 닳아요",
    "고객센터 연결이 안 됩니다. 도와주세요",
    "제품이 불량이에요. 교환 부탁드립니다",
)
EN_POSITIVE = (
    "Love the new collection, great quality!",
    "Fast delivery and the staff were so helpful",
    "Best coffee in town, thank you!",
    "This jacket kept me warm the whole hike",
    "Really happy with my upgrade",
)
EN_NEGATIVE = (
    "My order is two weeks late. Where is it?",
    "Still waiting for my refund, please help",
    "The app keeps crashing after the update",
    "Worst customer service ever, nobody answers",
    "Item arrived broken, I want a replacement",
)
BRAND_REPLIES_KO = ("불편을 드려 죄송합니다. DM으로 주문번호 부탁드립니다.", "소중한 후기 감사합니다!")
BRAND_REPLIES_EN = ("Sorry about that! Please DM us your order number.", "Thanks so much for the kind words!")
POST_TEXTS = (
    "새로운 겨울 컬렉션을 만나보세요 ❄️",
    "Our winter collection is here. Tap to explore!",
    "주말 한정 1+1 이벤트 진행 중!",
    "Behind the scenes of our new campaign",
)


def _text(rng: random.Random, language: str, negative: bool) -> str:
    if language == "ko":
        return rng.choice(KO_NEGATIVE if negative else KO_POSITIVE)
    return rng.choice(EN_NEGATIVE if negative else EN_POSITIVE)


def demo_events(
    n: int = 3000, seed: int = 7, start: datetime = DEMO_START, spike: int = 300
) -> list[dict[str, Any]]:
    """Return ``n`` canonical events (JSON-able dicts) sorted by ``occurred_at``; ``spike`` of them burst."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    posts: dict[str, list[tuple[str, str, str]]] = {
        b: [] for b in BRANDS
    }  # brand → (post_id, platform, account)
    seq = 0

    def emit(**fields: Any) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        ev = {
            "event_id": f"demo-{seed}-{seq:06d}",
            "is_brand": False,
            "attributes": {"source": "demo"},
            **fields,
        }
        events.append(ev)
        return ev

    def at(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # Brand posts first: every later event hangs off one of them.
    for b_index, brand in enumerate(BRANDS):
        for p_index, platform in enumerate(PLATFORMS):
            post_id = f"{brand}-{platform}-post-{p_index}"
            account = f"{brand}@{platform}"
            posts[brand].append((post_id, platform, account))
            emit(
                platform=platform,
                event_type="post",
                brand_id=brand,
                account_id=account,
                post_id=post_id,
                actor_id=account,
                is_brand=True,
                text=POST_TEXTS[(b_index + p_index) % len(POST_TEXTS)],
                campaign_id=f"{brand}-winter",
                occurred_at=at(60 * (b_index * 4 + p_index)),
            )

    day = 24 * 3600
    spike_start = 14 * 3600 + 5
    audience_types = [t for t in EVENT_TYPES if t != "post"]
    while len(events) < n - spike:
        brand = rng.choice(BRANDS)
        post_id, platform, account = rng.choice(posts[brand])
        event_type = (
            audience_types[len(events) % len(audience_types)]
            if len(events) < 200
            else rng.choices(audience_types, weights=(20, 5, 30, 12, 6, 2, 4, 6, 3, 2, 3))[0]
        )
        language = "ko" if rng.random() < 0.55 else "en"
        negative = rng.random() < 0.25
        actor = f"fan-{rng.randrange(400):04d}"
        ts = 1200 + rng.random() * (day - 1300)
        fields: dict[str, Any] = {
            "platform": platform,
            "event_type": event_type,
            "brand_id": brand,
            "account_id": account,
            "post_id": post_id,
            "actor_id": actor,
            "actor_followers": int(rng.paretovariate(1.2) * 50),
            "campaign_id": f"{brand}-winter",
            "occurred_at": at(ts),
        }
        if event_type in ("comment", "mention", "message"):
            fields["text"] = _text(rng, language, negative)
            fields["lang"] = language if rng.random() < 0.5 else None
        elif event_type == "reply":
            # Alternate brand replies (two-way communication) and audience replies.
            if rng.random() < 0.5:
                fields.update(actor_id=account, is_brand=True, actor_followers=None)
                fields["text"] = rng.choice(BRAND_REPLIES_KO if language == "ko" else BRAND_REPLIES_EN)
            else:
                fields["text"] = _text(rng, language, negative)
            fields["parent_id"] = rng.choice(events)["event_id"]
        elif event_type == "share":
            fields["parent_id"] = post_id
            fields["text"] = _text(rng, language, False) if rng.random() < 0.3 else None
        elif event_type in ("click", "lead", "purchase"):
            fields["attributes"] = {"source": "demo", "utm_source": platform}
        emit(**fields)

    # The crisis: a burst of complaints about one brand inside one minute.
    for i in range(spike):
        post_id, platform, account = posts[SPIKE_BRAND][i % len(PLATFORMS)]
        language = "ko" if i % 3 else "en"
        emit(
            platform=platform,
            event_type="mention" if i % 2 else "comment",
            brand_id=SPIKE_BRAND,
            account_id=account,
            post_id=post_id,
            actor_id=f"user-{rng.randrange(5000):05d}",
            actor_followers=int(rng.paretovariate(1.2) * 50),
            text=_text(rng, language, True),
            occurred_at=at(spike_start + (i * 50.0 / spike)),
        )
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return events


def run_scenario(seed: int = 6, days: int = 2) -> Simulation:
    """The scenario ``make run`` replays: ``days`` of simulated traffic for the three demo brands, with one
    reputation crisis on the last day, after the alert detectors' day of warm-up.

    Long enough in event time for the detectors to learn each brand's normal level first, short enough
    to replay and process in about a minute on two cores. Same seed and days, same events.
    """
    from services.sim.simulator import SimulationConfig, simulate

    if days < 2:
        raise ValueError("the scenario needs at least 2 days: one of history, then the crisis")
    return simulate(
        SimulationConfig(seed=seed, duration_seconds=days * 86400.0, crisis_count=1, crisis_day=days)
    )
