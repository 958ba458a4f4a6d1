"""Complaint flag: accuracy on the hand-labelled sample and on simulator texts, plus the rules.

The accuracy tests run twice: without sentiment scores (the flag's own cues only) and with a crude
polarity proxy computed from the text alone (VADER for English, a few Korean words), which stands in
for the sentiment model and is as wrong as a real model sometimes is. Labels never feed the scores.
Run with ``-s`` to see the measured precision and recall.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from services.enrich.complaints import _SCAN_ALL, _SCAN_EN, _normalise, complaint_flags, is_complaint
from services.enrich.language import detect_languages
from services.sim.simulator import SimulationConfig, simulate

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "complaints_labelled.tsv"
DIRECTED = ("comment", "reply", "mention", "message")

_VADER = SentimentIntensityAnalyzer()
_KO_POSITIVE = re.compile("최고|좋아|좋네|좋았|감사|만족|대박|맛있|추천|사랑|짱|감동|❤|😍|👍")
_KO_NEGATIVE = re.compile("최악|실망|짜증|별로|불편|화나|답답|싫|어이없|ㅠ|ㅜ|ㅡㅡ|😡|😤|💢|🙄")


def polarity(text: str | None, language: str) -> float | None:
    """Sentiment-model stand-in from text cues only: VADER compound for English, Korean word counts."""
    if not text or not text.strip():
        return None
    if language == "en":
        return float(_VADER.polarity_scores(text)["compound"])
    pos = len(_KO_POSITIVE.findall(text))
    neg = len(_KO_NEGATIVE.findall(text))
    return 0.0 if pos + neg == 0 else 0.8 * (pos - neg) / (pos + neg)


def sentiment_scores(kind: str, texts: Sequence[str | None], languages: Sequence[str]) -> list[float | None]:
    if kind == "none":
        return [None] * len(texts)
    return [polarity(t, lang) for t, lang in zip(texts, languages, strict=True)]


def precision_recall(flags: Sequence[bool], labels: Sequence[bool]) -> tuple[float, float]:
    tp = sum(f and y for f, y in zip(flags, labels, strict=True))
    fp = sum(f and not y for f, y in zip(flags, labels, strict=True))
    fn = sum(y and not f for f, y in zip(flags, labels, strict=True))
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def load_sample() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


# --- (a) the labelled sample -------------------------------------------------------------------


def test_sample_is_what_the_readme_says() -> None:
    rows = load_sample()
    assert len(rows) >= 300
    assert all(set(r) == {"text", "language", "event_type", "is_brand", "label"} for r in rows)
    assert {r["label"] for r in rows} == {"0", "1"} and {r["is_brand"] for r in rows} == {"0", "1"}
    korean = sum(r["language"] == "ko" for r in rows) / len(rows)
    complaints = sum(r["label"] == "1" for r in rows) / len(rows)
    assert 0.4 <= korean <= 0.6
    assert 0.3 <= complaints <= 0.45


@pytest.mark.parametrize("scores", ["none", "text-polarity"])
def test_precision_and_recall_on_labelled_sample(scores: str) -> None:
    rows = load_sample()
    texts = [r["text"] for r in rows]
    languages = [r["language"] for r in rows]
    sentiment = sentiment_scores(scores, texts, languages)
    flags = complaint_flags(
        texts, [r["event_type"] for r in rows], [r["is_brand"] == "1" for r in rows], sentiment, languages
    )
    labels = [r["label"] == "1" for r in rows]
    precision, recall = precision_recall(flags, labels)
    print(
        f"\nlabelled sample ({len(rows)} rows, scores={scores}): "
        f"precision={precision:.3f} recall={recall:.3f}"
    )
    for language in ("en", "ko"):
        part = [i for i, lang in enumerate(languages) if lang == language]
        p, r = precision_recall([flags[i] for i in part], [labels[i] for i in part])
        print(f"  {language}: precision={p:.3f} recall={r:.3f}")
    assert precision >= 0.90
    assert recall >= 0.75


# --- (b) rules, by hand ---------------------------------------------------------------------------

ENGLISH_COMPLAINTS = [
    "@SkyMobile my internet has been down since this morning, fix it",
    "where is my order? it's been two weeks",
    "I was charged twice for the same ticket, I want a refund",
    "the barista was rude and my latte came out cold",
    "app keeps crashing at checkout",
    "never flying with you again after that delay",
]
ENGLISH_NOT_COMPLAINTS = [
    "no problem, love it",
    "what time do you open?",
    "monday is the worst",
    "the cold brew is amazing 😍",
    "had zero issues with my order, thanks!",
    "customer service fixed my billing issue in minutes, great team",
    "can't wait for the new season",
]
KOREAN_COMPLAINTS = [
    "앱이 또 먹통이에요. 로그인이 안 돼요",
    "환불 요청한 지 2주째인데 연락이 없네요",
    "지퍼가 일주일 만에 고장났어요. 교환해 주세요",
    "직원분이 너무 불친절했어요",
    "배송 언제 돼요? 아직도 안 왔어요",
    "이럴 거면 그냥 해지할게요",
]
KOREAN_NOT_COMPLAINTS = [
    "딸기 라떼 진짜 최고예요 😍",
    "몇 시에 문 열어요?",
    "월요일 진짜 최악",
    "고장 한 번 없이 잘 쓰고 있어요",
    "이거 안 사면 안 돼요 ㅋㅋ",
    "환불 바로 처리해 주셔서 감사합니다!",
    "환불 규정이 어떻게 되나요?",
]


@pytest.mark.parametrize("text", ENGLISH_COMPLAINTS)
def test_english_complaints(text: str) -> None:
    assert is_complaint(text, "comment", language="en")


@pytest.mark.parametrize("text", ENGLISH_NOT_COMPLAINTS)
def test_english_non_complaints(text: str) -> None:
    assert not is_complaint(text, "comment", language="en")


@pytest.mark.parametrize("text", KOREAN_COMPLAINTS)
def test_korean_complaints(text: str) -> None:
    assert is_complaint(text, "comment", language="ko")


@pytest.mark.parametrize("text", KOREAN_NOT_COMPLAINTS)
def test_korean_non_complaints(text: str) -> None:
    assert not is_complaint(text, "comment", language="ko")


@pytest.mark.parametrize("event_type", [*DIRECTED, "post", "share"])
@pytest.mark.parametrize("score", [None, -1.0, 0.0])
def test_brand_accounts_never_complain(event_type: str, score: float | None) -> None:
    for text in (
        "We're so sorry your order is late! Your refund has been processed.",
        "불편을 드려 죄송합니다. 환불은 3~5일 내 처리됩니다.",
        "@you the app is down, fix it, I want a refund",
    ):
        assert is_complaint(text, "comment", is_brand=False)  # the same text from a customer would count
        assert not is_complaint(text, event_type, is_brand=True, sentiment_score=score)


@pytest.mark.parametrize("text", [None, "", "   ", "\n"])
@pytest.mark.parametrize("event_type", DIRECTED)
def test_no_text_is_no_complaint(text: str | None, event_type: str) -> None:
    assert not is_complaint(text, event_type, sentiment_score=-1.0)


@pytest.mark.parametrize("event_type", ["like", "follow", "unfollow", "click", "lead", "purchase"])
def test_events_that_do_not_talk_to_the_brand(event_type: str) -> None:
    assert not is_complaint("my order never arrived, I want a refund", event_type, sentiment_score=-0.9)


def test_posts_and_shares_count_only_when_they_address_the_brand() -> None:
    addressed = "@ShopNow still no refund after 3 weeks, sharing so more people see this"
    warning = "PSA: their app is broken again, use the website"
    for event_type in ("post", "share"):
        assert is_complaint(addressed, event_type, language="en")
        assert not is_complaint(warning, event_type, language="en")
        assert not is_complaint("@ShopNow this jacket is everything", event_type, language="en")
    assert is_complaint(warning, "comment", language="en")  # a comment is directed by definition


def test_sentiment_combination() -> None:
    weak = "@SkyMobile really disappointed"  # one weak cue with a target
    assert not is_complaint(weak, "comment", sentiment_score=None)
    assert not is_complaint(weak, "comment", sentiment_score=0.1)
    assert is_complaint(weak, "comment", sentiment_score=-0.5)
    assert not is_complaint("monday is the worst", "comment", sentiment_score=-0.9)  # no target

    strong = "my order never arrived"
    assert is_complaint(strong, "comment", sentiment_score=None)
    assert is_complaint(strong, "comment", sentiment_score=0.4)  # mildly positive model: cue wins
    assert not is_complaint(strong, "comment", sentiment_score=0.9)  # clearly positive model wins
    sarcastic = "love how my order never arrived"
    assert is_complaint(sarcastic, "comment", sentiment_score=0.9)  # sarcasm: score not trusted
    assert is_complaint("my order never arrived and the app keeps crashing", "comment", sentiment_score=0.9)

    uncued = "@AirPacific you people are unbelievable"
    assert not is_complaint(uncued, "comment", sentiment_score=None)
    assert is_complaint(uncued, "comment", sentiment_score=-0.8)
    assert not is_complaint("this rain is unbelievable", "comment", sentiment_score=-0.8)


def test_negation_resolution_and_humour() -> None:
    assert not is_complaint("never had a problem with their support", "comment")
    assert not is_complaint("the outage was fixed now, thanks for sorting it", "reply")
    assert not is_complaint("문제없이 잘 받았습니다", "comment")
    assert not is_complaint("비행기 연착될까 걱정했는데 정시 출발했어요", "comment")
    assert not is_complaint(
        "@BeanHouse worst morning ever, spilled my own coffee lol", "mention", sentiment_score=-0.6
    )
    assert is_complaint("lol my order never arrived", "comment")  # humour does not excuse a real problem


def test_batch_matches_single_records() -> None:
    rows = load_sample()[:120]
    args = (
        [r["text"] for r in rows],
        [r["event_type"] for r in rows],
        [r["is_brand"] == "1" for r in rows],
        [polarity(r["text"], r["language"]) for r in rows],
        [r["language"] for r in rows],
    )
    assert complaint_flags(*args) == [is_complaint(*one) for one in zip(*args, strict=True)]
    with pytest.raises(ValueError):
        complaint_flags(["a", "b"], ["comment"], [False, False], [None, None], ["en", "en"])


def test_fast_scan_equals_reference_scan() -> None:
    """The bucketed scanner must find exactly what one big alternation finds, and be in use."""
    assert _SCAN_EN.fast and _SCAN_ALL.fast
    texts = [r["text"] for r in load_sample()]
    texts += [
        e["text"] for e in simulate(SimulationConfig(seed=5, duration_seconds=1800)).events if e["text"]
    ]
    for text in map(_normalise, texts):
        for scanner in (_SCAN_EN, _SCAN_ALL):
            assert scanner.kinds(text) == [m.lastgroup for m in scanner.reference.finditer(text)], text


@given(
    st.one_of(st.none(), st.text(max_size=120)),
    st.sampled_from([*DIRECTED, "post", "share", "like"]),
    st.one_of(st.none(), st.floats(-1, 1)),
    st.sampled_from(["ko", "en", "other"]),
)
def test_total_and_brand_safe(text: str | None, event_type: str, score: float | None, language: str) -> None:
    assert is_complaint(text, event_type, False, score, language) in (True, False)
    assert not is_complaint(text, event_type, True, score, language)


# --- (c) agreement with the simulator's own intent tags ----------------------------------------------


@pytest.mark.parametrize("seed", [3, 11])
@pytest.mark.parametrize("scores", ["none", "text-polarity"])
def test_agreement_with_simulator_intents(seed: int, scores: str) -> None:
    events = [
        e
        for e in simulate(SimulationConfig(seed=seed, duration_seconds=3600)).events
        if e["event_type"] in DIRECTED
    ]
    texts = [e["text"] for e in events]
    languages = detect_languages(texts, [e["lang"] for e in events])
    sentiment = sentiment_scores(scores, texts, languages)
    flags = complaint_flags(
        texts, [e["event_type"] for e in events], [e["is_brand"] for e in events], sentiment, languages
    )
    labels = [e["attributes"].get("sim_intent") == "complaint" and not e["is_brand"] for e in events]
    assert sum(labels) >= 50 and len(labels) - sum(labels) >= 200  # enough of both to measure
    precision, recall = precision_recall(flags, labels)
    print(
        f"\nsimulator seed={seed} ({len(events)} directed events, {sum(labels)} complaints, "
        f"scores={scores}): precision={precision:.3f} recall={recall:.3f}"
    )
    assert precision >= 0.9
    assert recall >= 0.8
