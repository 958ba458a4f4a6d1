"""Speed work on the sentiment pass must not change one output.

A straightforward reference of the featurisation and scoring (each n-gram order's validity from the
position of the next separator, jamo spelled by ``repeat`` and scattered writes, one bincount of the
float16 weights per language, a label per text, every token and character looked up for emoji and
emoticons) against the shipped path, on the hand-written
complaint samples and distinct simulator texts (Korean and English) plus edge cases: the same
feature occurrences in the same order, bit-identical scores and length norms, the same labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from services.enrich import sentiment as S
from services.enrich.language import EN, KO, detect_languages
from tests.unit.test_complaint_equivalence import EDGE_CASES, corpus

EXTRA = [
    "ㅋㅋㅋㅋㅋ 진짜 최고!!!!",
    "^^",
    "-_-",
    "10점",
    "I LOVE it!!! :) <3",
    "Don’t buy this, Black Friday was a scam",
    "a\x00b 좋아요",
    "Ünïcödé straße test",
    "😂😂 great app",
    "  ",
    "x",
    "앱",
    "zzzz qqqq",
]


def reference_char_ngrams(codes: np.ndarray, orders: Sequence[int], salt: int, bits: int):
    if not orders or len(codes) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    is_sep = codes == 0
    doc = np.cumsum(is_sep, dtype=np.int64) - 1
    ends = np.flatnonzero(is_sep)[1:]
    nxt = np.append(ends, len(codes) + 64)[doc]  # the next separator after each position
    positions = np.arange(len(codes), dtype=np.int64)
    shift = np.uint64(64 - bits)
    h = np.zeros(len(codes), dtype=np.uint64)
    docs, ids = [], []
    for n in range(1, max(orders) + 1):
        m = len(codes) - n + 1
        if m <= 0:
            break
        h = h[:m] * S._BASE + codes[n - 1 : n - 1 + m]
        if n not in orders:
            continue
        valid = codes != 0 if n == 1 else nxt[:m] >= positions[:m] + n - 1
        sel = np.flatnonzero(valid)
        bucket = ((h[sel] + S._salt(salt * 16 + n)) * S._GOLDEN) >> shift
        docs.append(doc[sel])
        ids.append(bucket.astype(np.int64))
    return np.concatenate(docs), np.concatenate(ids)


def reference_jamo(codes: np.ndarray) -> np.ndarray:
    syllable = (codes >= 0xAC00) & (codes <= 0xD7A3)
    s = np.where(syllable, codes - np.uint64(0xAC00), np.uint64(0))
    tail = s % np.uint64(28)
    width = np.where(syllable, np.where(tail > 0, 3, 2), 1)
    start = np.cumsum(width) - width
    out = np.repeat(codes, width)
    first = start[syllable]
    out[first] = s[syllable] // np.uint64(588) + np.uint64(0x1100)
    out[first + 1] = (s[syllable] % np.uint64(588)) // np.uint64(28) + np.uint64(0x1161)
    has_tail = syllable & (tail > 0)
    out[start[has_tail] + 2] = tail[has_tail] + np.uint64(0x11A7)
    return out


def reference_word_hashes(codes: np.ndarray, token_mask: np.ndarray):
    prev = np.concatenate(([False], token_mask[:-1]))
    starts = np.flatnonzero(token_mask & ~prev)
    if len(starts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    tix = np.flatnonzero(token_mask)
    word_of = np.cumsum(token_mask & ~prev)[tix] - 1
    offset = np.minimum(tix - starts[word_of], 63)
    seg = np.searchsorted(tix, starts)
    wh = S._splitmix(np.add.reduceat(S._splitmix(codes[tix] * S._WORD_MULT[offset]), seg))
    doc = np.cumsum(codes == 0, dtype=np.int64) - 1
    return doc[starts], wh


def reference_blocks(texts: Sequence[str], spec: S.FeatureSpec):
    codes = S.encode(texts)
    blocks = [reference_char_ngrams(codes, spec.char, 1, spec.bits)]
    if spec.nospace or spec.jamo:
        nospace = codes[codes != S._SPACE]
        if spec.nospace:
            blocks.append(reference_char_ngrams(nospace, spec.nospace, 2, spec.bits))
        if spec.jamo:
            blocks.append(reference_char_ngrams(reference_jamo(nospace), spec.jamo, 7, spec.bits))
    mask = (codes != 0) & (codes != S._SPACE) if spec.words == "space" else S.english_token_mask(codes)
    wdoc, wh = reference_word_hashes(codes, mask)
    blocks.append(S.word_ngrams(wdoc, wh, 3, spec.bits, spec.word_bigrams))
    return blocks, wdoc, wh


def reference_label(score: float, band: float) -> str:
    if score >= band and score > 0:
        return S.POSITIVE
    if score <= -band and score < 0:
        return S.NEGATIVE
    return S.NEUTRAL


def reference_analyse(model: S.SentimentModel, texts: Sequence[str | None], languages: Sequence[str]):
    """Per language: features, one bincount of the float16 weights, then per text its label."""
    n = len(texts)
    scores, bands, norm = np.zeros(n), np.zeros(n), np.zeros(n)
    routed = [""] * n
    all_docs, all_ids = [], []
    for lang in (KO, EN):
        idx = [
            i
            for i, (t, lg) in enumerate(zip(texts, languages, strict=True))
            if t
            and not t.isspace()
            and (lg == KO or (lg != EN and S._korean_or_letterless(t))) == (lang == KO)
        ]
        if not idx:
            continue
        m = model.models[lang]
        sub = [texts[i] or "" for i in idx]
        blocks, wdoc, wh = reference_blocks(sub, m.spec)
        docs = np.concatenate([d for d, _ in blocks])
        ids = np.concatenate([b for _, b in blocks])
        count = np.bincount(docs, minlength=len(idx))
        z = np.bincount(docs, weights=m.weights[ids], minlength=len(idx)) / np.sqrt(np.maximum(count, 1.0))
        z = z + m.bias
        if m.lexicon is not None:
            dense = S.english_dense_features(
                sub, wdoc, wh, m.lexicon, m.title_case, m.punctuation, m.emoji, m.rules
            )
            z += dense @ m.lexicon_weights
        where = np.asarray(idx)
        scores[where] = np.tanh((z - m.center) / m.scale)
        bands[where] = m.neutral_band
        norm[where] = 1.0 / np.sqrt(np.maximum(count, 1.0))
        all_docs.append(where[docs])
        all_ids.append(ids + S.EN_BUCKET_OFFSET if lang == EN else ids)
        for i in idx:
            routed[i] = lang
    labels = [reference_label(s, b) for s, b in zip(scores.tolist(), bands.tolist(), strict=True)]
    return labels, scores, norm, routed, np.concatenate(all_docs), np.concatenate(all_ids)


@pytest.fixture(scope="module")
def texts() -> list[str | None]:
    rows = [text for text, _, _ in corpus()]
    return [*EDGE_CASES, *EXTRA, None, *rows[:1500]]


@pytest.mark.parametrize("lang", [KO, EN])
def test_feature_blocks_equal_the_reference(lang: str, texts) -> None:
    spec = S.load_model().models[lang].spec
    batch = [t for t in texts if t is not None]
    got, got_wdoc, got_wh = S.feature_blocks(batch, spec)
    expected, wdoc, wh = reference_blocks(batch, spec)
    assert len(got) == len(expected)
    for (d, b), (ed, eb) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(d, ed)
        np.testing.assert_array_equal(b, eb)
    np.testing.assert_array_equal(got_wdoc, wdoc)
    np.testing.assert_array_equal(got_wh, wh)
    assert sum(len(d) for d, _ in got) > 100 * len(batch)  # every family is exercised


def test_hangul_jamo_equals_the_reference(texts) -> None:
    codes = S.encode([t for t in texts if t])
    np.testing.assert_array_equal(S.hangul_jamo(codes), reference_jamo(codes))
    assert np.count_nonzero((codes >= 0xAC00) & (codes <= 0xD7A3)) > 1000


@pytest.mark.parametrize("batch", [500, 61])
def test_scores_labels_and_features_equal_the_reference(batch: int, texts) -> None:
    model = S.load_model()
    labels_seen = set()
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        languages = detect_languages(chunk, [None] * len(chunk))
        got = model.analyse(chunk, languages)
        labels, scores, norm, routed, docs, ids = reference_analyse(model, chunk, languages)
        assert [p.label for p in got.predictions] == labels
        # bit-identical, not approximately equal
        assert np.array([p.score for p in got.predictions]).tobytes() == scores.tobytes()
        assert got.norm.tobytes() == norm.tobytes()
        assert got.routed == routed
        np.testing.assert_array_equal(got.docs, docs)
        np.testing.assert_array_equal(got.ids, ids)
        labels_seen.update(labels)
    assert labels_seen == set(S.LABELS)


def test_decision_from_equals_the_float16_bincount() -> None:
    model = S.load_model().models[KO]
    docs, ids, dense = model.featurise(["배송이 너무 늦어요", "최고예요 ㅎㅎ", "^^"])
    expected = np.bincount(docs, weights=model.weights[ids], minlength=3)
    expected = expected / np.sqrt(np.maximum(np.bincount(docs, minlength=3), 1.0)) + model.bias
    assert model.decision_from(3, docs, ids, dense).tobytes() == expected.tobytes()


def reference_emoji_sums(emoji: S.EmojiValences, texts: Sequence[str]) -> np.ndarray:
    """Every token looked up, every character of the squeezed text looked up, in text order."""
    out = np.zeros((len(texts), 2))
    for i, text in enumerate(texts):
        for token in text.lower().split():
            v = emoji.emoticons.get(token)
            if v is not None:
                out[i, 0 if v > 0 else 1] += v
        for ch in S._REPEAT.sub(r"\1\1", text):
            v = emoji.table.get(ord(ch))
            if v is not None:
                out[i, 0 if v > 0 else 1] += v
    return out


def test_emoji_and_emoticon_sums_equal_the_reference(texts) -> None:
    emoji = S.load_model().models[EN].emoji
    assert emoji is not None and emoji.emoticons
    batch = [t for t in texts if t is not None]
    batch += [
        "love it 😍😍😍😍 :) :-( <3 </3",
        "XD :D :P ;) so good",
        "☺️👍🏽 thanks!! 😂 lol :/",
        "no emoji here at all",
        "😡 worst :( :( :(",
        "🙂🙃 ¦©® ok",
    ]
    got = emoji.sums(batch)
    expected = reference_emoji_sums(emoji, batch)
    assert got.tobytes() == expected.tobytes()
    assert np.count_nonzero(expected) > 8  # emoji and emoticons of both signs were found


def test_encode_squeezes_runs_exactly_as_the_regex_does() -> None:
    """The code-point squeeze equals ``_REPEAT.sub`` on the joined text: newline runs stay, others keep 2."""
    texts = [
        *(text for text, _, _ in corpus()[:3000]),
        *EDGE_CASES,
        "sooooo goooood!!!!!",
        "ㅋㅋㅋㅋㅋㅋ ㅠㅠㅠ",
        "a\n\n\n\nb\r\r\r\rc",
        "",
        "",
        "",
        "😂😂😂😂 aaa AAA aAa",
        "xx",
        "x",
    ]
    sep = S._SEP
    joined = sep + sep.join(t.replace(sep, " ") for t in texts) + sep
    joined = S._REPEAT.sub(r"\1\1", joined.lower().replace("\u2019", "'"))
    expected = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    got = S.encode(texts)
    assert len(got) < len(S.encode(texts, squeeze=False))  # the runs above were squeezed
    np.testing.assert_array_equal(got, expected)
    for text in texts[-12:]:
        np.testing.assert_array_equal(
            S.encode([text]),
            np.frombuffer(
                (sep + S._REPEAT.sub(r"\1\1", text.lower()) + sep).encode("utf-32-le"), dtype=np.uint32
            ).astype(np.uint64),
        )
