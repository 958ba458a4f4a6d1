"""Each feature function on small hand-made event sequences (no Kafka, no simulator)."""

from __future__ import annotations

from typing import Any

from services.enrich.features import conversation, conversion, virality

MIN = 60_000


def _share(i: str, parent: str | None, actor: str, followers: int, t: int) -> dict[str, Any]:
    return {
        "event_id": i,
        "event_type": "share",
        "parent_id": parent,
        "actor_id": actor,
        "actor_followers": followers,
        "platform": "x",
    }


def _post_state() -> dict[str, Any]:
    state = virality.new_state("b", "x", "p")
    virality.apply(state, {"event_type": "post", "platform": "x", "campaign_id": "c1"}, 0)
    return state


def test_cascade_depth_breadth_and_coefficient() -> None:
    s = _post_state()
    # p ← s1 ← s2 ← s3 ; p ← s4 ; s1 ← s5
    for sid, parent, t in (
        ("s1", "p", 1),
        ("s2", "s1", 2),
        ("s3", "s2", 3),
        ("s4", None, 4),
        ("s5", "s1", 5),
    ):
        virality.apply(s, _share(sid, parent, f"a{sid}", 10, t), t * MIN)
    row = virality.snapshot(s, 5 * MIN)
    assert (row["cascade_size"], row["shares"], row["cascade_depth"]) == (5, 2, 3)
    assert row["cascade_breadth"] == 2  # depth 1: s1, s4; depth 2: s2, s5
    assert row["viral_coefficient"] == 3 / 5  # s2, s3, s5 were caused by shares
    assert [virality.share_depth(s, x) for x in ("s1", "s2", "s3", "s4", "s5")] == [1, 2, 3, 1, 2]


def test_share_before_its_parent_gets_its_depth_when_the_parent_arrives() -> None:
    s = _post_state()
    virality.apply(s, _share("s3", "s2", "a3", 1, 3 * MIN), 3 * MIN)
    virality.apply(s, _share("s2", "s1", "a2", 1, 2 * MIN), 2 * MIN)
    assert virality.snapshot(s, 3 * MIN)["unresolved_shares"] == 2
    assert virality.share_depth(s, "s3") is None
    virality.apply(s, _share("s1", "p", "a1", 1, MIN), MIN)
    row = virality.snapshot(s, 3 * MIN)
    assert (row["unresolved_shares"], row["cascade_depth"]) == (0, 3)
    assert virality.share_depth(s, "s3") == 3


def test_reach_counts_each_sharer_once_and_a_repeated_share_is_ignored() -> None:
    s = _post_state()
    virality.apply(s, _share("s1", "p", "alice", 1000, MIN), MIN)
    virality.apply(s, _share("s2", "p", "alice", 5000, 2 * MIN), 2 * MIN)  # alice again: first count kept
    virality.apply(s, _share("s3", "s1", "bob", 50, 3 * MIN), 3 * MIN)
    virality.apply(s, _share("s3", "s1", "bob", 50, 3 * MIN), 3 * MIN)  # same event again
    row = virality.snapshot(s, 3 * MIN)
    assert (row["unique_reach"], row["unique_sharers"], row["cascade_size"]) == (1050, 2, 3)


def test_share_velocity_uses_five_minute_buckets_and_keeps_the_peak() -> None:
    s = _post_state()
    for i in range(12):  # 12 shares in [0, 5 min)
        virality.apply(s, _share(f"a{i}", "p", f"u{i}", 1, i * 20_000), i * 20_000)
    for i in range(3):  # 3 shares in [10, 15 min)
        t = 10 * MIN + i * 1000
        virality.apply(s, _share(f"b{i}", "p", f"v{i}", 1, t), t)
    row = virality.snapshot(s, 11 * MIN)
    assert (row["share_velocity_5m"], row["peak_share_velocity_5m"]) == (3, 12)
    assert row["is_viral"] is False  # 15 shares < VIRAL_MIN_CASCADE


def test_is_viral_needs_size_and_depth_or_speed() -> None:
    assert not virality.is_viral(virality.VIRAL_MIN_CASCADE - 1, 10, 100)
    assert not virality.is_viral(100, virality.VIRAL_MIN_DEPTH - 1, virality.VIRAL_MIN_VELOCITY - 1)
    assert virality.is_viral(100, virality.VIRAL_MIN_DEPTH, 0)
    assert virality.is_viral(100, 1, virality.VIRAL_MIN_VELOCITY)


def test_engagement_counts() -> None:
    s = _post_state()
    virality.apply(s, {"event_type": "like"}, MIN)
    virality.apply(s, {"event_type": "comment", "sentiment_label": "negative", "is_complaint": True}, MIN)
    virality.apply(s, {"event_type": "comment", "sentiment_label": "positive", "is_complaint": False}, MIN)
    virality.apply(s, {"event_type": "click"}, MIN)
    row = virality.snapshot(s, MIN)
    assert (row["likes"], row["comments"], row["negative_comments"], row["complaints"], row["clicks"]) == (
        1,
        2,
        1,
        1,
        1,
    )
    assert row["posted_at"] == 0 and row["campaign_id"] == "c1"


def _touch(kind: str, i: int, post: str | None = None, campaign: str | None = None) -> dict[str, Any]:
    return {"event_id": f"e{i}", "event_type": kind, "post_id": post, "campaign_id": campaign}


def test_touches_before_conversion_and_attribution() -> None:
    s = conversion.new_state("b", "a", "x")
    journey = [
        _touch("follow", 1),
        _touch("like", 2, post="p1"),
        _touch("unfollow", 3),  # not a touch
        _touch("click", 4, post="p2", campaign="c-winter"),
        _touch("comment", 5, post="p3"),
        _touch("lead", 6, campaign="c-loyalty"),
        _touch("purchase", 7, campaign="c-loyalty"),
        _touch("like", 8, post="p9"),  # after the conversion: not counted
        _touch("purchase", 9),  # a repeat purchase
    ]
    for i, ev in enumerate(journey):
        conversion.apply(s, ev, i * MIN)
    lead = conversion.event_features(s, journey[5])
    assert lead["touches_before_conversion"] == 4
    assert (lead["first_touch_post_id"], lead["last_touch_post_id"]) == ("p1", "p3")
    assert (lead["first_touch_campaign_id"], lead["last_touch_campaign_id"]) == ("c-winter", "c-winter")
    purchase = conversion.event_features(s, journey[6])
    assert purchase["touches_before_conversion"] == 5  # follow, like, click, comment, lead
    assert purchase["seconds_to_convert"] == 6 * 60.0
    assert (purchase["first_touch_campaign_id"], purchase["last_touch_campaign_id"]) == (
        "c-winter",
        "c-loyalty",
    )
    assert conversion.event_features(s, journey[8]) == {}  # only the first purchase converts
    row = conversion.snapshot(s, 9 * MIN)
    assert (row["stage"], row["purchases"], row["unfollows"], row["touches"]) == ("customer", 2, 1, 5)
    assert (row["followed_at"], row["clicked_at"], row["converted_at"]) == (0, 3 * MIN, 6 * MIN)


def test_stage_is_the_furthest_step_reached() -> None:
    s = conversion.new_state("b", "a", "x")
    conversion.apply(s, _touch("click", 1, post="p"), 0)
    conversion.apply(s, _touch("like", 2, post="p"), MIN)
    row = conversion.snapshot(s, MIN)
    assert (row["stage"], row["touches_before_conversion"]) == ("clicked", None)


def test_unfollow_attribution_window_and_platform() -> None:
    brand = conversation.new_brand("b")
    conversation.add_post(brand, "x", "p1", 0)
    conversation.add_post(brand, "x", "p2", 60 * MIN)
    conversation.add_post(brand, "instagram", "p3", 90 * MIN)
    conversation.add_post(brand, "x", "p2", 60 * MIN)  # the same post again: no duplicate
    window = 6 * 60 * MIN
    assert conversation.attribute_unfollow(brand, "x", 30 * MIN, window) == ("p1", 1800.0)
    assert conversation.attribute_unfollow(brand, "x", 100 * MIN, window) == ("p2", 2400.0)
    assert conversation.attribute_unfollow(brand, "instagram", 30 * MIN, window) is None  # before p3
    assert conversation.attribute_unfollow(brand, "x", 60 * MIN + window + 1, window) is None  # too old
    assert len(brand["posts"]["x"]) == 2
