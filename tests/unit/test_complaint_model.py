"""Learned complaint flag: who can complain, reasons, one pass with sentiment, artifacts, protocol."""

from __future__ import annotations

import csv
import io
import json
import struct

import fastavro
import numpy as np
import pytest

from services.common.avro import codec
from services.common.avro_registry import SchemaRegistry
from services.enrich import complaint_model as CM
from services.enrich.language import detect_languages
from services.enrich.processor import enrich_records
from services.enrich.sentiment import MODEL_DIR, load_model
from services.enrich.training import complaints_train as T
from services.loader.tables import EVENT_COLUMNS, to_columns
from tests.factories import make_social_event

EN_COMPLAINTS = [
    "@SkyMobile my internet has been down for two days and nobody answers the phone",
    "I was charged twice for the same order, I want a refund now",
    "the app keeps crashing every time I try to pay, fix this",
]
KO_COMPLAINTS = ["환불 요청한 지 3주째인데 연락이 없네요", "배송이 열흘째 안 와요 빨리 처리해 주세요"]
NOT_COMPLAINTS = [
    "love the new menu, thank you!",
    "오늘 날씨 좋네요 산책 가야지",
    "what time do you open on sunday?",
]


def assess(texts, event_types=None, is_brand=None):
    n = len(texts)
    langs = detect_languages(list(texts), [None] * n)
    _, results = CM.assess_batch(texts, event_types or ["comment"] * n, is_brand or [False] * n, langs)
    return results


def test_artifacts_are_committed_small_and_not_pickle() -> None:
    config = json.loads((MODEL_DIR / "complaints.json").read_text(encoding="utf-8"))
    with np.load(MODEL_DIR / "complaints.npz", allow_pickle=False) as data:
        assert {"idx", "w"} <= set(data.files)
        assert int(data["idx"].max()) < 1 << config["bits"]
    assert (MODEL_DIR / "complaints.npz").stat().st_size < 1024 * 1024
    assert len(config["dense_weights"]) == len(CM.DENSE_COLUMNS)


def test_clear_complaints_are_flagged_with_reasons_from_the_text() -> None:
    texts = EN_COMPLAINTS + KO_COMPLAINTS
    for text, result in zip(texts, assess(texts), strict=True):
        assert result.flag, text
        assert 1 <= len(result.reasons) <= CM.MAX_REASONS
        for reason in result.reasons:
            assert reason == CM.NEGATIVE_TONE or reason in text.lower(), (text, reason)


def test_praise_chatter_and_questions_are_not_flagged_and_have_no_reasons() -> None:
    for text, result in zip(NOT_COMPLAINTS, assess(NOT_COMPLAINTS), strict=True):
        assert not result.flag, text
        assert result.reasons == ()


def test_who_can_complain_stays_a_rule() -> None:
    text = EN_COMPLAINTS[1]
    brand, like, post, addressed_post = assess(
        [text, text, "PSA their app is broken again, charged me twice", "@ShopNow " + text],
        ["reply", "like", "post", "post"],
        [True, False, False, False],
    )
    assert not brand.flag and not like.flag  # brand accounts and non-message events never complain
    assert not post.flag  # a post that does not talk to the brand warns followers
    assert addressed_post.flag


def test_batch_results_do_not_depend_on_neighbours() -> None:
    texts = EN_COMPLAINTS + NOT_COMPLAINTS + KO_COMPLAINTS
    together = assess(texts)
    alone = [assess([t])[0] for t in texts]
    assert [r.flag for r in together] == [r.flag for r in alone]
    assert [r.reasons for r in together] == [r.reasons for r in alone]


def test_skipping_the_cue_scan_below_the_ceiling_changes_no_flag(monkeypatch) -> None:
    """The bound that skips the cue scan is exact: with it disabled, the same flags come out."""
    texts = EN_COMPLAINTS + NOT_COMPLAINTS + KO_COMPLAINTS + ["monday is the worst", "meh"]
    fast = assess(texts)
    model = CM.load_complaint_model()
    monkeypatch.setattr(model, "skip_hopeless_scans", False)
    slow = assess(texts)
    assert [r.flag for r in fast] == [r.flag for r in slow]
    assert [r.reasons for r in fast] == [r.reasons for r in slow]


@pytest.mark.parametrize("english", [True, False])
def test_word_spans_of_a_batch_are_each_texts_own(english) -> None:
    """One split over the joined texts finds each text's words (and English pairs) in reading order."""
    texts = [*EN_COMPLAINTS, "", "ok", "  ", "don't, ever!! again", *KO_COMPLAINTS, "a  b", "x"]
    word = CM._EN_WORD if english else CM._KO_WORD
    text_of, starts, stops, seq, pieces = CM._word_spans(texts, english)
    order = np.lexsort((seq, text_of)).tolist()  # seq: reading order within a text
    got = [(text_of[k], starts[k], stops[k], pieces[k]) for k in order]
    expected = []
    for i, text in enumerate(texts):
        spans = [m.span() for m in word.finditer(text)]
        for k, (start, stop) in enumerate(spans):
            expected.append((i, start, stop, text[start:stop]))
            if english and k + 1 < len(spans):
                expected.append((i, start, spans[k + 1][1], text[start : spans[k + 1][1]]))
    assert got == expected


def test_reasons_do_not_depend_on_the_piece_cache(monkeypatch) -> None:
    """Cold, warm, and with the cache starting over mid-batch: the same reasons."""
    texts = EN_COMPLAINTS + KO_COMPLAINTS + NOT_COMPLAINTS
    model = CM.load_complaint_model()
    model.forget_pieces()
    cold = assess(texts)
    warm = assess(texts)
    monkeypatch.setattr(CM, "PIECE_CACHE_SIZE", 5)
    model.forget_pieces()
    tiny = [assess(texts[:2])[0], *assess(texts)[1:]]
    model.forget_pieces()
    assert [r.reasons for r in cold] == [r.reasons for r in warm] == [r.reasons for r in tiny]
    assert any(r.reasons for r in cold)


def test_strongest_first_is_the_lexsort() -> None:
    """The integer-key quicksort orders like the stable lexsort, ties (equal values) included."""
    rng = np.random.default_rng(1)
    text_of = rng.integers(0, 40, 3000)
    values = rng.choice([-1.5, 0.0, 0.25, 0.5, 2.0, 3.0], 3000) * rng.choice([1.0, 1.0, 1e-3], 3000)
    seq = rng.permutation(3000)
    for spread in (1, 1 << 45):  # the second overflows the integer keys: the lexsort itself
        order = CM._strongest_first(text_of, values, seq * spread)
        assert (order == np.lexsort((seq, -values, text_of))).all()


def test_complaint_features_are_the_sentiment_features() -> None:
    """One tokenisation: the model's hashed score is a re-weighing of the sentiment pass's buckets."""
    texts = [EN_COMPLAINTS[0], KO_COMPLAINTS[0]]
    model = CM.load_complaint_model()
    analysis = load_model().analyse(texts, ["en", "ko"])
    manual = np.zeros(2)
    for d, bucket in zip(analysis.docs.tolist(), analysis.ids.tolist(), strict=True):
        manual[d] += model.weights[CM.fold(np.array([bucket]), model.bits)[0]] * analysis.norm[d]
    assert np.allclose(model.hashed_scores(analysis, 2), manual)


def test_processor_carries_reasons_and_schema_round_trips() -> None:
    raw = [
        make_social_event(text=EN_COMPLAINTS[1], event_id="c1"),
        make_social_event(text="thanks, all good now", event_id="c2"),
        make_social_event(text=None, event_type="like", event_id="c3"),
    ]
    out = enrich_records(raw)
    assert out[0]["is_complaint"] and out[0]["complaint_reasons"]
    assert out[1]["complaint_reasons"] == [] and out[2]["complaint_reasons"] == []
    decoded = codec("enriched_event").decode(codec("enriched_event").encode(out[0]))
    assert decoded["complaint_reasons"] == out[0]["complaint_reasons"]
    column = to_columns(out, EVENT_COLUMNS)[EVENT_COLUMNS.index("complaint_reasons")]
    assert column == [r["complaint_reasons"] for r in out]


def test_old_enriched_events_read_with_empty_reasons_and_load() -> None:
    registry = SchemaRegistry.load()
    latest_id, _ = registry.latest("enriched_event")
    _, v2 = registry.by_id(4)
    assert "complaint_reasons" not in {f["name"] for f in v2["fields"]}
    record = {k: v for k, v in enrich_records([make_social_event(text="where is my order?")])[0].items()}
    record.pop("complaint_reasons")
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(v2), record)
    old_bytes = b"\x00" + struct.pack(">I", 4) + body.getvalue()
    decoded = codec("enriched_event").decode(old_bytes)
    assert latest_id != 4 and decoded["complaint_reasons"] == []
    # a record built before the field existed (no key at all) loads with the column default
    column = to_columns([record], EVENT_COLUMNS)[EVENT_COLUMNS.index("complaint_reasons")]
    assert column == [[]]


def test_migration_adds_the_column_with_an_empty_default() -> None:
    sql = (T.TESTS_DATA.parents[1] / "schemas" / "clickhouse" / "0007_complaint_reasons.sql").read_text()
    assert "ADD COLUMN IF NOT EXISTS complaint_reasons Array(String) DEFAULT []" in sql
    assert "complaint_reasons" in EVENT_COLUMNS


def test_held_out_sample_rows_never_reach_training() -> None:
    with (T.TESTS_DATA / "complaints_sample_2.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    holdout = {r["text"] for r in rows if r["split"] == "holdout"}
    train = {r["text"] for r in rows if r["split"] == "train"}
    assert len(holdout) >= 120 and {r["language"] for r in rows if r["split"] == "holdout"} == {"ko", "en"}
    used = {r["text"] for r in T.load_handwritten(T.TESTS_DATA / "complaints_sample_2.tsv", split="train")}
    assert used == train and not used & holdout


def test_shipped_choices_come_from_cross_validation_not_from_held_out_data() -> None:
    config = json.loads((MODEL_DIR / "complaints.json").read_text(encoding="utf-8"))
    assert "leave-one-industry-out" in config["selection"]
    best = max(config["selection_table"], key=lambda r: r["pooled_f1"])
    assert config["threshold"] == best["threshold"]
    assert f"C={best['C']}" in config["model"]
    en = json.loads((MODEL_DIR / "sentiment_en.json").read_text(encoding="utf-8"))
    assert "leave-one-domain-out" in en["tuned_on"] and "never read" in en["tuned_on"]


@pytest.mark.parametrize(
    ("z", "y", "expected"),
    [
        (np.array([0.3, 0.6, 1.0]), np.array([0, 1, 1]), (1.0, 0.35)),
        (np.array([2.5, 3.0]), np.array([1, 1]), (1.0, 0.0)),
    ],
)
def test_threshold_maximises_f1_and_prefers_the_one_nearest_zero(z, y, expected) -> None:
    f1, t = T.best_threshold(z, y)
    assert f1 == pytest.approx(expected[0])
    assert t == pytest.approx(expected[1])


def test_runtime_code_does_not_import_training() -> None:
    """The wheel leaves ``services/enrich/training`` out and the image lacks its dependency group."""
    import re
    from pathlib import Path

    root = Path(CM.__file__).resolve().parents[2]
    training = root / "services" / "enrich" / "training"
    heavy = re.compile(
        r"^\s*(?:from|import)\s+(?:services\.enrich\.training|sklearn|scipy|vaderSentiment|afinn|emosent)\b",
        re.MULTILINE,
    )
    assert heavy.search("    from scipy import sparse")  # the check itself finds an import
    offenders = [
        str(path.relative_to(root))
        for path in (root / "services").rglob("*.py")
        if training not in path.parents and heavy.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
