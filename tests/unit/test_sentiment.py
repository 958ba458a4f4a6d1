"""Sentiment API: labels, score range, polarity on clear examples, batching, committed artifacts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from services.enrich import sentiment as S
from services.enrich.language import detect_languages

LABELS = {"negative", "neutral", "positive"}

KO_POS = ["정말 재밌어요 최고의 영화", "배우들 연기 너무 좋고 감동적이었다", "강추합니다 꼭 보세요"]
KO_NEG = ["진짜 최악이다 돈 아깝다", "지루하고 재미없음 시간낭비", "쓰레기 영화 보지마세요"]
EN_POS = ["I love this, it's amazing!", "Great service, thank you so much", "Best day ever, so happy"]
EN_NEG = [
    "This is terrible, I hate it",
    "Worst customer service ever, awful",
    "I'm so angry and disappointed",
]


@pytest.fixture(scope="module")
def model() -> S.SentimentModel:
    return S.load_model()


def test_artifacts_are_committed_small_and_not_pickle() -> None:
    files = sorted(p.name for p in S.MODEL_DIR.iterdir())
    for lang in ("ko", "en"):
        assert f"sentiment_{lang}.npz" in files
        assert f"sentiment_{lang}.json" in files
        json.loads((S.MODEL_DIR / f"sentiment_{lang}.json").read_text(encoding="utf-8"))
        with np.load(S.MODEL_DIR / f"sentiment_{lang}.npz", allow_pickle=False) as data:
            assert all(data[k].dtype != object for k in data.files)
    total = sum(p.stat().st_size for p in S.MODEL_DIR.iterdir())
    assert total < 8 * 1024 * 1024
    assert (S.MODEL_DIR / "MODEL_CARD.md").exists()


def test_loads_without_training_data(tmp_path, monkeypatch) -> None:
    # the product runs from any directory, with no ../shared/data next to it
    monkeypatch.chdir(tmp_path)
    fresh = S.SentimentModel({lang: S.load_language_model(S.MODEL_DIR, lang) for lang in ("ko", "en")})
    assert fresh.predict(["좋아요"])[0].label in LABELS
    assert "shared/data" not in Path(S.__file__).read_text(encoding="utf-8")


def test_load_model_is_cached(model: S.SentimentModel) -> None:
    assert S.load_model() is model


def test_labels_and_scores_valid(model: S.SentimentModel) -> None:
    texts = [
        *KO_POS,
        *KO_NEG,
        *EN_POS,
        *EN_NEG,
        "ㅋㅋㅋㅋㅋㅋ",
        "🙂",
        "12345",
        "Bonjour tout le monde",
        "a" * 5000,
    ]
    preds = model.predict(texts)
    assert len(preds) == len(texts)
    for p in preds:
        assert p.label in LABELS
        assert isinstance(p.score, float)
        assert -1.0 <= p.score <= 1.0
        assert not math.isnan(p.score)
        if p.label == "positive":
            assert p.score > 0
        if p.label == "negative":
            assert p.score < 0


@pytest.mark.parametrize(("texts", "label"), [(KO_POS, "positive"), (KO_NEG, "negative")])
def test_korean_polarity(model: S.SentimentModel, texts: list[str], label: str) -> None:
    preds = model.predict(texts)
    assert [p.label for p in preds] == [label] * len(texts)


@pytest.mark.parametrize(("texts", "label"), [(EN_POS, "positive"), (EN_NEG, "negative")])
def test_english_polarity(model: S.SentimentModel, texts: list[str], label: str) -> None:
    preds = model.predict(texts)
    assert [p.label for p in preds] == [label] * len(texts)


def test_english_negation_flips_lexicon_polarity(model: S.SentimentModel) -> None:
    good, not_good = model.predict(["the food was good", "the food was not good"])
    assert not_good.score < good.score


def test_empty_and_none_are_neutral_zero(model: S.SentimentModel) -> None:
    preds = model.predict(["", None, "   ", "좋아요"])
    for p in preds[:3]:
        assert p.label == "neutral"
        assert p.score == 0.0
    assert preds[3].label == "positive"
    assert model.predict([]) == []


def test_batch_matches_single(model: S.SentimentModel) -> None:
    texts = [*KO_POS, *EN_NEG, "", "그냥 그랬어요", "ok I guess", *KO_NEG, *EN_POS]
    batch = model.predict(texts)
    for text, got in zip(texts, batch, strict=True):
        single = model.predict([text])[0]
        assert single.label == got.label
        assert single.score == pytest.approx(got.score, abs=1e-6)


def test_languages_argument_skips_detection(model: S.SentimentModel, monkeypatch) -> None:
    texts: list[str | None] = [*KO_POS, *EN_NEG]
    langs = detect_languages(texts, [None] * len(texts))
    expected = model.predict(texts)

    def boom(*_args: object, **_kwargs: object) -> list[str]:
        raise AssertionError("detect_languages must not be called when languages are given")

    monkeypatch.setattr(S, "detect_languages", boom)
    assert model.predict(texts, langs) == expected
    with pytest.raises(ValueError):
        model.predict(texts, langs[:-1])


def test_other_language_routing(model: S.SentimentModel) -> None:
    # "other" with Hangul goes to the Korean model, the rest to the English model
    ko_like = model.predict(["최고 ^^ WOW WOW WOW"], ["other"])[0]
    assert ko_like == model.predict(["최고 ^^ WOW WOW WOW"], ["ko"])[0]
    latin = model.predict(["amazing wonderful"], ["other"])[0]
    assert latin == model.predict(["amazing wonderful"], ["en"])[0]


def test_features_do_not_depend_on_batch_neighbours() -> None:
    spec = S.FeatureSpec(bits=20, char=(1, 2, 3), nospace=(2, 3), words="space", word_bigrams=True)
    blocks, _, _ = S.feature_blocks(["ab c", "", "x\x00y", "ab c"], spec)
    docs = np.concatenate([d for d, _ in blocks])
    ids = np.concatenate([i for _, i in blocks])
    assert sorted(ids[docs == 0]) == sorted(ids[docs == 3])
    assert docs.max() == 3


def test_lexicon_word_hash_matches_batch_hash() -> None:
    words = ["good", "don't", "awful"]
    codes = S.encode(["so good", "i don't know", "awful"])
    _, wh = S.word_hashes(codes, S.english_token_mask(codes))
    assert set(S.english_word_hash(words).tolist()) <= set(wh.tolist())


def _word_stream(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    codes = S.encode(texts)
    return S.word_hashes(codes, S.english_token_mask(codes))


def test_mid_sentence_title_case_words_are_flagged_sentence_starts_are_not() -> None:
    texts = ["Great deals on Black Friday", "Love it. Super fast", "the Super Bowl, Happy days"]
    wdoc, _ = _word_stream(texts)
    flags = S.title_case_words(texts, wdoc)
    per_text = [flags[wdoc == i].tolist() for i in range(len(texts))]
    assert per_text[0] == [False, False, False, True, True]  # "Great" starts the text
    assert per_text[1] == [False, False, False, False]  # "Super" follows ". "
    assert per_text[2] == [False, True, True, True, False]  # "Super Bowl" after a word, "Happy" after ","


def test_title_case_names_do_not_carry_lexicon_sentiment() -> None:
    en = S.load_model().models["en"]
    assert en.lexicon is not None
    texts = ["tickets for the Super Bowl are out", "tickets for the super bowl are out"]
    wdoc, wh = _word_stream(texts)
    dense = S.english_dense_features(texts, wdoc, wh, en.lexicon, title_case=True, punctuation=False)
    assert dense[0, 0] == 0.0  # "Super" is part of a name: no positive valence
    assert dense[1, 0] > 0.0  # lower-case "super" is the lexicon's positive word


def test_every_configured_lexicon_contributes() -> None:
    en = S.load_model().models["en"]
    assert en.lexicon is not None
    assert en.config["lexicons"][0] == "lex"  # VADER first: emoji and emoticons join its sums
    assert en.lexicon.n_lexicons == len(en.config["lexicons"])
    assert (en.lexicon.valences != 0).any(axis=0).all()


def _toy_lexicon() -> S.Lexicon:
    return S.Lexicon(
        {
            "lex_hashes": S.english_word_hash(["good", "bad"]),
            "lex_valences": np.array([2.0, -2.0]),
            "lex_negators": S.english_word_hash(["not"]),
            "lex_boosters": S.english_word_hash(["very"]),
            "lex_buts": S.english_word_hash(["but"]),
        }
    )


def test_lexicon_rules_switch_negation_and_boosters() -> None:
    texts = ["good", "not good", "very good"]
    wdoc, wh = _word_stream(texts)
    with_rules = _toy_lexicon().features(wdoc, wh, 3, rules=True)
    plain = _toy_lexicon().features(wdoc, wh, 3, rules=False)
    assert with_rules[:, :2].tolist() == [[0.5, 0.0], [0.0, -0.74 * 2 / 4], [(2 + 0.293) / 4, 0.0]]
    assert plain[:, :2].tolist() == [[0.5, 0.0], [0.5, 0.0], [0.5, 0.0]]


def test_emoticons_are_whitespace_tokens_looked_up_lower_cased() -> None:
    emoji = S.EmojiValences(
        np.array([0x1F60D]), np.array([3.0]), np.array([":)", ":(", ":d"]), np.array([2.0, -2.0, 2.5])
    )
    got = emoji.sums(["nice :)", "meh :( :)", "ok:)", ":D \U0001f60d", "no emoticon"])
    assert got.tolist() == [[2.0, 0.0], [2.0, -2.0], [0.0, 0.0], [5.5, 0.0], [0.0, 0.0]]
    without = S.EmojiValences(np.array([0x1F60D]), np.array([3.0]))
    assert without.sums(["nice :)", ":D \U0001f60d"]).tolist() == [[0.0, 0.0], [3.0, 0.0]]


def test_shipped_english_switches_reach_the_features() -> None:
    en = S.load_model().models["en"]
    assert en.rules == en.config["lexicon_rules"]
    assert en.emoji is not None
    assert bool(en.emoji.emoticons) == en.config["emoticons"]
    assert en.spec.char == tuple(en.config["features"]["char"])
    _, _, dense = en.featurise(["see you tomorrow :)", "see you tomorrow"])
    assert (dense[0, 0] > dense[1, 0]) == en.config["emoticons"]  # VADER's positive sum


def test_punctuation_features_are_capped_counts() -> None:
    got = S.punctuation_features(["wow!!", "why? why? why? why? why?", "", "ok"])
    assert got.tolist() == [[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0]]


def test_hangul_jamo_spells_syllables_and_keeps_other_code_points() -> None:
    import unicodedata

    text = "했다 ok"
    got = S.hangul_jamo(np.array([ord(c) for c in text], dtype=np.uint64))
    # NFD is Unicode's own decomposition of precomposed syllables into conjoining jamo.
    assert "".join(chr(int(c)) for c in got) == unicodedata.normalize("NFD", text)


def test_letterless_other_texts_go_to_the_korean_model(model: S.SentimentModel, monkeypatch) -> None:
    """Digits and emoticons ("10점", "^^") are Korean-model input; Latin text without Hangul is not."""
    routed: dict[str, list[str]] = {"ko": [], "en": []}
    for lang in ("ko", "en"):
        original = model.models[lang]._featurise

        def spy(texts, where=None, _lang=lang, _original=original):
            routed[_lang].extend(texts)
            return _original(texts, where)

        monkeypatch.setattr(model.models[lang], "_featurise", spy)
    analysis = model.analyse(["^^", "10", "zzzz qqqq"], languages=["other", "other", "other"])
    assert sorted(routed["ko"]) == ["10", "^^"]
    assert routed["en"] == ["zzzz qqqq"]
    assert analysis.routed == ["ko", "ko", "en"]


def test_analysis_features_are_the_ones_the_score_came_from(model: S.SentimentModel) -> None:
    """The shared features reproduce each language model's decision value exactly."""
    texts = ["배송이 너무 늦어요", "the app keeps crashing", "", "좋아요 good"]
    analysis = model.analyse(texts, ["ko", "en", "other", "ko"])
    assert analysis.routed == ["ko", "en", "", "ko"]
    for i, text in enumerate(texts):
        lang = analysis.routed[i]
        if not lang:
            assert not np.any(analysis.docs == i)
            continue
        m = model.models[lang]
        ids = analysis.ids[analysis.docs == i] - (S.EN_BUCKET_OFFSET if lang == "en" else 0)
        _, ids_alone, _ = m.featurise([text])
        assert sorted(ids.tolist()) == sorted(ids_alone.tolist())
        assert analysis.norm[i] == pytest.approx(1 / math.sqrt(len(ids_alone)))
