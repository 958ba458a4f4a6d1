"""The report's words and empty paths, without ClickHouse: period comparison, summary sentences, sections
for a window without alerts, conversions or any data, brand names and zones, alert label rows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.analytics import insights, queries
from services.analytics.charts import _label_levels
from services.analytics.insights import Headline, delta_count, delta_share, headline, tiles
from services.analytics.report import generate
from services.analytics.report_data import USES
from services.common import brands

SEOUL = ZoneInfo("Asia/Seoul")
DOCUMENTED = queries.load()


def _h(**kw: Any) -> Headline:
    base: dict[str, Any] = dict(
        interactions=0,
        messages=0,
        negative_share=None,
        complaints=0,
        answered_within_1h_share=None,
        median_response_seconds=None,
        replies=0,
        customers=0,
        mean_touches=None,
        follows=0,
        unfollows=0,
        brand_posts=0,
    )
    return Headline(**{**base, **kw})


# --- period comparison ---------------------------------------------------------------------------


def test_count_deltas_say_which_way_and_whether_that_is_good() -> None:
    assert delta_count(120, 100, False) == insights.Delta("▲ 20% vs previous", "good")
    assert delta_count(80, 100, False) == insights.Delta("▼ 20% vs previous", "bad")
    assert delta_count(130, 100, False, higher_is_better=False).tone == "bad"  # more unfollows
    assert delta_count(100, 100, False) == insights.Delta("no change", "flat")
    assert delta_count(5, 0, False).text == "new: none the period before"
    assert delta_count(5, 3, True) == insights.NO_EARLIER  # nothing at all in the previous period


def test_share_deltas_are_in_points() -> None:
    assert delta_share(0.30, 0.20, False, higher_is_better=False) == insights.Delta(
        "▲ 10 pts vs previous", "bad"
    )
    assert delta_share(0.41, 0.40, False).text == "▲ 1 pt vs previous"
    assert delta_share(0.402, 0.40, False).text == "no change"
    assert delta_share(None, 0.4, False).text == "nothing to compare"


def test_headline_reads_the_documented_columns() -> None:
    r = {
        "Q1": [{"engagements": 70}, {"engagements": 30}],
        "Q2": [
            {"sentiment_label": "negative", "messages": 10},
            {"sentiment_label": "positive", "messages": 30},
        ],
        "Q8": [{"complaints": 8, "answered_within_1h": 6}, {"complaints": 2, "answered_within_1h": 0}],
        "Q10": [
            {"platform": "x", "answered": 3, "median_seconds": 100},
            {"platform": "", "answered": 5, "median_seconds": 300},  # the ROLLUP row
        ],
        "Q12": [{"touches": 4, "customers": 1}, {"touches": 8, "customers": 3}],
        "Q20": [{"follows": 9, "unfollows": 4, "brand_posts": 2}],
    }
    h = headline(r)
    assert (h.interactions, h.messages, h.negative_share) == (100, 40, 0.25)
    assert (h.complaints, h.answered_within_1h_share) == (10, 0.6)
    assert (h.median_response_seconds, h.replies) == (300.0, 5)
    assert (h.customers, h.mean_touches) == (4, 7.0)
    assert (h.net_followers, h.empty) == (5, False)
    assert headline({}).empty


def test_tiles_compare_with_the_previous_period_or_say_there_is_none() -> None:
    now = _h(interactions=150, messages=40, negative_share=0.3, follows=10, unfollows=4, brand_posts=2)
    before = _h(interactions=100, messages=40, negative_share=0.2, follows=10, unfollows=2, brand_posts=2)
    by_label = {t.label: t for t in tiles(now, before)}
    assert by_label["audience interactions"].delta == insights.Delta("▲ 50% vs previous", "good")
    assert by_label["messages to the brand"].delta.text == "no change"
    assert by_label["of messages negative"].delta == insights.Delta("▲ 10 pts vs previous", "bad")
    assert by_label["unfollows"].delta == insights.Delta("▲ 100% vs previous", "bad")
    assert by_label["median brand response time"].delta.text == "no replies"
    assert all(
        t.delta == insights.NO_EARLIER for t in tiles(now, _h()) if t.delta.tone != "none" or t.value != "–"
    )


def test_the_change_sentence_compares_like_with_like() -> None:
    now = _h(interactions=1500, messages=200, negative_share=0.30, brand_posts=1)
    before = _h(interactions=1000, messages=150, negative_share=0.20, brand_posts=1)
    s = insights.change_sentence("Nordpeak", timedelta(hours=24), now, before)
    assert s == (
        "In these 24 hours Nordpeak's audience interacted 1,500 times, 50% more than the period before. "
        "30% of their 200 messages were negative (up 10 points)."
    )
    first = insights.change_sentence("Nordpeak", timedelta(days=7), now, _h())
    assert "there is no data for the 7 days before to compare with" in first
    nothing = insights.change_sentence("Nordpeak", timedelta(days=7), _h(), before)
    assert nothing.startswith("Nothing happened for Nordpeak in these 7 days")


def test_the_risk_is_the_alert_first_then_a_rising_topic_then_slow_answers() -> None:
    alert = {"kind": "negative_mentions", "severity": "critical", "window_start": "2026-11-01T04:10:00"}
    rising = [
        {"term": "nordpeak", "messages_now": 90, "messages_before": 9, "lift": 9.0, "volume_before": 10},
        {"term": "mislabeled", "messages_now": 40, "messages_before": 0, "lift": 12.0, "volume_before": 10},
    ]
    exclude = insights.brand_terms("nordpeak-outdoor", "Nordpeak", "노르피크")
    with_alert = insights.risk_sentence({"Q16": [alert], "Q22": rising}, _h(), SEOUL, exclude)
    assert with_alert.startswith(
        "Biggest risk: a surge of negative messages (critical) from Nov 01, 13:10 KST."
    )
    assert "“mislabeled”" in with_alert and "nordpeak" not in with_alert  # the brand's name is no topic
    topic = insights.risk_sentence({"Q22": rising}, _h(), SEOUL, exclude)
    assert topic.startswith("Biggest risk: a complaint topic is growing.")
    no_history = [{**r, "volume_before": 0} for r in rising]
    frequent = insights.risk_sentence({"Q22": no_history}, _h(complaints=3), SEOUL, exclude)
    assert frequent.startswith("No risk stands out") and "growing" not in frequent
    assert frequent.endswith(
        "Most frequent words in negative messages: “mislabeled” (no earlier messages to compare with)."
    )
    slow = insights.risk_sentence({}, _h(complaints=20, answered_within_1h_share=0.25), SEOUL)
    assert slow == "Biggest risk: only 25% of 20 complaints were answered within an hour."
    calm = insights.risk_sentence({}, _h(complaints=20, answered_within_1h_share=0.9), SEOUL)
    assert calm.startswith("No risk stands out")


def test_times_are_shown_in_the_chosen_zone_with_its_name() -> None:
    t = datetime(2026, 11, 1, 4, 12)
    assert insights.when(t, SEOUL) == "Nov 01, 13:12 KST"
    assert insights.when(t, ZoneInfo("UTC")) == "Nov 01, 04:12 UTC"
    assert insights.when(datetime(2026, 7, 1, 12), ZoneInfo("Europe/Berlin")) == "Jul 01, 14:00 CEST"


# --- brands --------------------------------------------------------------------------------------


def test_packaged_brands_have_names_and_zones_and_unknown_brands_fall_back() -> None:
    lumi = brands.brand("cafe-lumi")
    assert (lumi.name, lumi.label, lumi.timezone) == ("Lumi Coffee", "Lumi Coffee (루미커피)", "Asia/Seoul")
    assert brands.display_zone("cafe-lumi") == SEOUL
    assert brands.display_zone("cafe-lumi", "Europe/Berlin") == ZoneInfo("Europe/Berlin")  # ENGAGE_TIMEZONE
    unknown = brands.brand("acme")
    assert (unknown.label, brands.display_zone("acme")) == ("acme", ZoneInfo("UTC"))


def test_a_brands_file_with_a_bad_zone_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "brands.toml"
    f.write_text('[acme]\nname = "ACME"\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(brands.BrandsFileError, match="unknown time zone 'Mars/Olympus'"):
        brands.load(str(f))
    with pytest.raises(brands.BrandsFileError, match="unknown time zone"):
        brands.display_zone("cafe-lumi", "Seoul")


# --- sections for any window ---------------------------------------------------------------------


def _fake(results: dict[str, list[dict[str, Any]]], latest: str = "2026-11-01T23:10:00") -> Any:
    """A runner answering the documented queries from ``results`` (empty: just the column names)."""
    by_sql = {q.sql: qid for qid, q in DOCUMENTED.items()}

    def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        if sql.startswith("SELECT count() AS n"):
            return ["n", "latest", "earliest"], [[100, latest, "2026-11-01T00:00:00"]]
        qid = by_sql[sql]
        rows = results.get(qid, []) if params.get("since", "2026-11-01") >= "2026-11-01" else []
        columns = sorted(USES[qid] | {c for r in rows for c in r})
        return columns, [[r.get(c) for c in columns] for r in rows]

    return run


def test_an_empty_window_gives_a_report_of_short_nothing_sections(tmp_path: Path) -> None:
    (tmp_path / "alerts.png").write_bytes(b"an old chart")
    report = generate(_fake({}), "hanbit-mobile", timedelta(days=7), tmp_path, until=datetime(2026, 10, 1))
    html = unescape(report.html_path.read_text(encoding="utf-8"))
    assert report.pngs == [] and not (tmp_path / "alerts.png").exists()  # no stale chart from before
    assert "<img" not in html
    assert len(report.sections) == 10
    for s in report.sections:
        assert s.chart is None and s.empty and s.empty.startswith("Nothing in this window"), s.name
        assert f"<p class='empty'>{s.empty}</p>" in html
    assert "Nothing happened for Hanbit Mobile in these 7 days" in html
    assert "Hanbit Mobile's data runs from Nov 01, 09:00 KST to Nov 02, 08:10 KST" in html
    assert "ending at the chosen time" in html


def test_no_alerts_and_no_conversions_are_sentences_not_errors(tmp_path: Path) -> None:
    engagement = [{"hour": "2026-11-01T10:00:00", "platform": "x", "engagements": 12}]
    volume = [{"window_start": "2026-11-01T10:10:00", "complaints": 2, "negative": 3, "audience_events": 9}]
    flat = [
        {"term": "refund", "language": "en", "messages_now": 3, "messages_before": 1, "lift": 1.0}
        | {"volume_now": 20, "volume_before": 5}
    ]
    results = {"Q1": engagement, "Q18": volume, "Q22": flat}
    report = generate(_fake(results), "acme", timedelta(hours=24), tmp_path)
    sections = {s.name: s for s in report.sections}
    assert sections["engagement"].chart is not None and sections["engagement"].empty is None
    alerts = sections["alerts"]
    assert alerts.chart is not None and alerts.intro == "No alert fired in this window."
    assert alerts.chart.caption.endswith("no alert fired.")
    assert sections["funnel"].empty == "Nothing in this window: no campaign clicks, leads or purchases."
    assert sections["topics"].empty == (
        "Nothing in this window: no word in negative messages rose against the previous 24 hours."
    )
    assert [p.name for p in report.pngs] == ["alerts.png", "engagement.png"]
    html = report.html_path.read_text(encoding="utf-8")
    assert re.search(r"<h1>acme</h1>", html) and "UTC" in html  # an unlisted brand: its id, in UTC


def test_alert_labels_never_share_a_row_when_they_would_overlap() -> None:
    assert _label_levels([0.0, 0.05, 0.1, 0.5, 0.52], 0.2) == [0, 1, 2, 0, 1]
    assert _label_levels([0.0, 0.3, 0.6], 0.2) == [0, 0, 0]
