"""Sentiment of Korean and English social texts: one label and a signed score per text.

Why this design: the enrich worker must score tens of thousands of posts per second per core, so
the model is a pair of linear models over *hashed* n-gram features, computed for a whole batch at
once with numpy (no Python loop per n-gram, no tokenizer, no pickle). All texts of a batch are
joined into one code-point array; every n-gram hash is a rolling polynomial over that array, and a
document's score is a ``bincount`` of the weights of its n-grams.

* Korean ("ko"): NB-SVM (log-count-ratio scaled features, linear SVM) trained on NSMC movie reviews.
  Features: character 1-5-grams with text boundaries, whitespace-word uni/bigrams, character
  2-6-grams of the text with spaces removed (Korean spacing is inconsistent in social posts), and
  3-7-grams of that space-free text spelled in jamo (endings that straddle syllables).
* English ("en"): ridge regression on the VADER ground-truth ratings over word uni/bigrams and
  character n-grams, plus vectorised VADER- and AFINN-lexicon features (valence sums with negation;
  mid-sentence Title-case words, mostly names, can be skipped; VADER's emoticons and emoji valences
  from the Emoji Sentiment Ranking join the VADER sums) and optional "!"/"?" counts; which of these
  are used, and every other choice, the neutral band included, by leave-one-domain-out
  cross-validation over the VADER domains (TweetEval is only scored, once).
* "other": texts with Hangul or without any letter (numbers, emoticons such as "^^" or "-_-",
  punctuation; on NSMC the Korean model gets 70 % of these right, the English one 45 %) go to the
  Korean model, all the rest (Latin-script posts without English function words) to the English
  model: most such posts on our channels are short English or brand-name posts.

:meth:`SentimentModel.analyse` also returns the hashed features of the batch, which the complaint
model re-weighs instead of tokenising again (one pass for both).

Scores are ``tanh`` of the model's centred decision value, so the sign is the polarity and values
near 0 are neutral; the label is "neutral" inside a per-language band ``|score| < neutral_band``.
Artifacts live in ``services/enrich/models`` (``*.npz`` arrays + ``*.json`` config) and are produced
by ``services.enrich.training.sentiment_train``; see ``models/MODEL_CARD.md``.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.enrich.language import EN, KO, detect_languages

MODEL_DIR = Path(__file__).resolve().parent / "models"
NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
LABELS = (NEGATIVE, NEUTRAL, POSITIVE)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
U64Array = npt.NDArray[np.uint64]

_SEP = "\x00"  # document separator inside the joined batch; also the begin/end-of-text marker
_SPACE = 32
_BASE = np.uint64(0x100000001B3)  # polynomial base of the rolling n-gram hash (FNV prime, odd)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # multiplicative (Fibonacci) hashing of a hash to a bucket
_REPEAT = re.compile(r"(.)\1{2,}")  # "ㅋㅋㅋㅋㅋ", "!!!!!", "sooooo" -> two copies
_NEWLINE = ord("\n")
# every float16 value, indexed by its bit pattern (see LinearTextModel.weights_of)
_FLOAT16_VALUES = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Prediction:
    """``label`` in negative/neutral/positive; ``score`` in [-1, 1], sign = polarity, ~0 = neutral."""

    label: str
    score: float


# --------------------------------------------------------------------------------------------------
# Featurisation (shared by training and inference, so both see exactly the same features)


def encode(texts: Sequence[str], *, squeeze: bool = True) -> U64Array:
    """Lower-case, squeeze character runs and join ``texts`` into one code-point array.

    Layout: SEP t0 SEP t1 SEP ... SEP; each text is thus framed by a separator, which acts as the
    begin/end-of-text marker inside n-grams (the end of a Korean review carries most sentiment).
    """
    joined = _SEP + _SEP.join(texts) + _SEP
    if joined.count(_SEP) != len(texts) + 1:  # a text carries NUL itself: rare, do it the slow way
        joined = _SEP + _SEP.join(t.replace(_SEP, " ") for t in texts) + _SEP
    joined = joined.lower().replace("\u2019", "'")  # typographic apostrophe: "don’t" == "don't"
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    if squeeze and len(codes) > 2:
        # what _REPEAT.sub(r"\1\1", joined) does, on the code points (a regex tries every position):
        # drop each character that repeats the two before it, but for newlines ("." skips them)
        third = codes[2:]
        repeat = (third == codes[1:-1]) & (third == codes[:-2]) & (third != _NEWLINE)
        if repeat.any():
            codes = codes[np.concatenate(([True, True], ~repeat))]
    return codes.astype(np.uint64)


def _splitmix(x: U64Array) -> U64Array:
    """splitmix64 finaliser: a cheap avalanche so that structured keys spread over all bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# one random odd multiplier per character offset inside a word (order-sensitive word hash)
_WORD_MULT = _splitmix(np.arange(1, 65, dtype=np.uint64) * _GOLDEN) | np.uint64(1)


def _salt(k: int) -> np.uint64:
    return np.uint64((0xD6E8FEB86659FD93 * k) % (1 << 64))


def _doc_numbers(codes: U64Array) -> IntArray:
    """Per position: its document number (a separator belongs to the text after it)."""
    doc = np.cumsum(codes == 0, dtype=np.int64)
    doc -= 1
    return doc


def char_ngrams(codes: U64Array, orders: Sequence[int], salt: int, bits: int) -> tuple[IntArray, IntArray]:
    """(document, bucket) of every character n-gram of the given orders that stays inside one text.

    An n-gram may start or end on the separator (text boundary) but not contain one inside.
    """
    docs: list[IntArray] = []
    ids: list[IntArray] = []
    _char_ngrams_into(docs, ids, codes, _doc_numbers(codes), orders, salt, bits)
    if not docs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(docs), np.concatenate(ids)


def _char_ngrams_into(
    docs: list[IntArray],
    ids: list[IntArray],
    codes: U64Array,
    doc: IntArray,
    orders: Sequence[int],
    salt: int,
    bits: int,
) -> None:
    """:func:`char_ngrams`, appending one (document, bucket) array pair per order to ``docs``/``ids``.

    ``doc`` gives each position's document number (any numbering: it is only copied). The rolling
    hash is updated in place, order by order, and an n-gram's validity (no separator strictly
    inside) is the previous order's validity and one more inner position.
    """
    if not orders or len(codes) < 2:
        return
    shift = np.uint64(64 - bits)
    not_sep = codes != 0
    h = codes.copy()  # the order-1 hash of each position: its code point
    inner = not_sep  # from order 3 on: no separator in positions i+1..i+n-2 (set at n = 3)
    top = max(orders)
    for n in range(1, top + 1):
        m = len(codes) - n + 1
        if m <= 0:
            break
        if n > 1:
            h = h[:m]
            h *= _BASE
            h += codes[n - 1 : n - 1 + m]
        if n >= 3:
            inner = not_sep[1 : 1 + m].copy() if n == 3 else inner[:m]
            if n > 3:
                inner &= not_sep[n - 2 : n - 2 + m]
        if n not in orders:
            continue
        if n == 2:  # no inner position: every pair of neighbours is a bigram
            bucket = h.copy()
            docs.append(doc[:m])
        else:
            sel = np.flatnonzero(not_sep if n == 1 else inner)
            bucket = h.take(sel)  # take: faster than indexing with an array
            docs.append(doc.take(sel))
        bucket += _salt(salt * 16 + n)
        bucket *= _GOLDEN
        bucket >>= shift
        ids.append(bucket.view(np.int64))  # < 2^bits: the same values


def word_hashes(
    codes: U64Array, token_mask: npt.NDArray[np.bool_], doc: IntArray | None = None
) -> tuple[IntArray, U64Array]:
    """(document, 64-bit hash) of every maximal run of ``token_mask`` positions, in text order.

    ``doc``: each position's document number, when the caller has it already.
    """
    prev = np.concatenate(([False], token_mask[:-1]))
    is_start = token_mask & ~prev
    starts = np.flatnonzero(is_start)
    if len(starts) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    tix = np.flatnonzero(token_mask)
    word_of = np.cumsum(is_start).take(tix) - 1
    offset = np.minimum(tix - starts.take(word_of), 63)
    # hash = mix(sum_k mix(c_k * M(k))): position-dependent random multipliers, mixed per term so
    # that different words do not collide through linear relations between their code points
    seg = np.searchsorted(tix, starts)
    wh = _splitmix(np.add.reduceat(_splitmix(codes.take(tix) * _WORD_MULT.take(offset)), seg))
    if doc is None:
        doc = _doc_numbers(codes)
    return doc.take(starts), wh


def word_ngrams(
    wdoc: IntArray, wh: U64Array, salt: int, bits: int, bigrams: bool
) -> tuple[IntArray, IntArray]:
    """(document, bucket) of word unigrams and, optionally, bigrams of consecutive words."""
    shift = np.uint64(64 - bits)
    docs = [wdoc]
    ids = [(((wh + np.uint64(salt)) * _GOLDEN) >> shift).astype(np.int64)]
    if bigrams and len(wh) > 1:
        same = np.flatnonzero(wdoc[1:] == wdoc[:-1])
        hb = wh[same] * _BASE + wh[same + 1] * _GOLDEN + np.uint64(salt + 1)
        docs.append(wdoc[same])
        ids.append(((hb * _GOLDEN) >> shift).astype(np.int64))
    return np.concatenate(docs), np.concatenate(ids)


def english_token_mask(codes: U64Array) -> npt.NDArray[np.bool_]:
    """Letters, digits and apostrophes (ASCII fast path + Unicode letters) form English words."""
    c = codes
    ascii_word = ((c >= 97) & (c <= 122)) | ((c >= 65) & (c <= 90)) | ((c >= 48) & (c <= 57)) | (c == 39)
    return ascii_word | ((c >= 0xC0) & (c <= 0x24F))


def hangul_jamo(codes: U64Array) -> U64Array:
    """Spell every precomposed Hangul syllable as its 2-3 conjoining jamo (U+1100 block).

    A syllable ``0xAC00 + 588 * lead + 28 * vowel + tail`` becomes lead, vowel and, if ``tail > 0``,
    tail jamo; other code points are kept. Jamo n-grams see endings that straddle syllables
    (the past-tense final ㅆ of 했/었, the ㄴ/ㄹ of adnominal endings) that syllable n-grams split.
    """
    return _jamo(codes)[0]


def _jamo(codes: U64Array) -> tuple[U64Array, IntArray]:
    """:func:`hangul_jamo` and, per input position, how many positions it became (1, 2 or 3).

    Every position is written as three slots (lead or the code point itself, vowel, tail), and the
    slots a position does not use are dropped in one pass.
    """
    syllable = (codes >= 0xAC00) & (codes <= 0xD7A3)
    s = codes - np.uint64(0xAC00)
    s *= syllable  # 0 off syllables
    slots = np.empty((len(codes), 3), dtype=np.uint64)
    lead, rest = np.divmod(s, np.uint64(588))
    vowel, tail = np.divmod(rest, np.uint64(28))
    lead += np.uint64(0x1100)
    slots[:, 0] = np.where(syllable, lead, codes)
    vowel += np.uint64(0x1161)
    slots[:, 1] = vowel
    has_tail = tail > 0
    tail += np.uint64(0x11A7)
    slots[:, 2] = tail
    keep = np.empty((len(codes), 3), dtype=bool)
    keep[:, 0] = True
    keep[:, 1] = syllable
    keep[:, 2] = has_tail
    width = syllable.astype(np.int64)
    width += 1
    width += has_tail
    return slots[keep], width


@dataclass(frozen=True)
class FeatureSpec:
    """Which hashed feature families a language model uses (stored in the model's JSON config)."""

    bits: int
    char: tuple[int, ...]
    nospace: tuple[int, ...]
    words: str  # "space" (Korean eojeol) or "alnum" (English words)
    word_bigrams: bool
    jamo: tuple[int, ...] = ()  # Korean: n-gram orders over the space-free text spelled in jamo

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(
            bits=int(d["bits"]),
            char=tuple(d["char"]),
            nospace=tuple(d["nospace"]),
            words=str(d["words"]),
            word_bigrams=bool(d["word_bigrams"]),
            jamo=tuple(d.get("jamo", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "char": list(self.char),
            "nospace": list(self.nospace),
            "words": self.words,
            "word_bigrams": self.word_bigrams,
            **({"jamo": list(self.jamo)} if self.jamo else {}),
        }


def feature_blocks(
    texts: Sequence[str], spec: FeatureSpec
) -> tuple[list[tuple[IntArray, IntArray]], IntArray, U64Array]:
    """Hashed feature occurrences of a batch as (doc, bucket) blocks, plus the word (doc, hash) stream.

    The model's feature vector for a text is ``counts / sqrt(number of occurrences)``: an L2-like
    length normalisation that needs no per-document de-duplication, so inference is bincounts.
    """
    docs, ids, blocks, wdoc, wh = _feature_parts(texts, spec)
    out = []
    for lo, hi in itertools.pairwise(blocks):
        d, i = docs[lo:hi], ids[lo:hi]
        out.append(
            (np.concatenate(d), np.concatenate(i)) if d else (np.zeros(0, np.int64), np.zeros(0, np.int64))
        )
    return out, wdoc, wh


def _feature_parts(
    texts: Sequence[str], spec: FeatureSpec, where: IntArray | None = None
) -> tuple[list[IntArray], list[IntArray], list[int], IntArray, U64Array]:
    """The (doc, bucket) arrays of :func:`feature_blocks`, unconcatenated: the blocks are
    ``parts[blocks[k]:blocks[k + 1]]``. With ``where``, the feature documents are numbered
    ``where[text]`` (the word stream keeps the texts' own numbers)."""
    codes = encode(texts)
    local = _doc_numbers(codes)
    # (the final separator's number, len(texts), is never a feature's: clipped to a valid one)
    doc = local if where is None else where.take(local, mode="clip")
    docs: list[IntArray] = []
    ids: list[IntArray] = []
    blocks = [0]
    _char_ngrams_into(docs, ids, codes, doc, spec.char, 1, spec.bits)
    blocks.append(len(docs))
    if spec.nospace or spec.jamo:
        kept = codes != _SPACE
        nospace = codes[kept]
        nospace_doc = doc[kept]
        if spec.nospace:
            _char_ngrams_into(docs, ids, nospace, nospace_doc, spec.nospace, 2, spec.bits)
            blocks.append(len(docs))
        if spec.jamo:
            jamo, width = _jamo(nospace)
            _char_ngrams_into(docs, ids, jamo, np.repeat(nospace_doc, width), spec.jamo, 7, spec.bits)
            blocks.append(len(docs))
    mask = (codes != 0) & (codes != _SPACE) if spec.words == "space" else english_token_mask(codes)
    wdoc, wh = word_hashes(codes, mask, local)
    word_docs, word_ids = word_ngrams(wdoc, wh, 3, spec.bits, spec.word_bigrams)
    docs.append(word_docs if where is None else where[word_docs])
    ids.append(word_ids)
    blocks.append(len(docs))
    return docs, ids, blocks, wdoc, wh


# --------------------------------------------------------------------------------------------------
# Lexicon features (English)


class Lexicon:
    """Vectorised VADER-style scoring of one or more word lexicons over the word-hash stream of a batch.

    Per lexicon and text: sum of positive and of negative valences (/4) and the VADER-like normalised
    compound ``s / sqrt(s^2 + 15)``. As in VADER, a word with a negator among the three previous
    words counts with its sign flipped and scaled by 0.74, a booster just before a word raises its
    magnitude by 0.293, and in a text with "but" the words before the first "but" count half, those
    after 1.5x. All lexicons share one sorted hash table (one ``searchsorted`` per word) whose
    valence matrix has one column per lexicon (0 where a lexicon lacks the word).
    """

    N_FEATURES = 3  # per lexicon

    def __init__(self, arrays: dict[str, np.ndarray], prefixes: Sequence[str] = ("lex",)) -> None:
        """Word tables from ``{prefix}_hashes``/``{prefix}_valences``; negators, boosters and "but"
        come from the ``lex_*`` arrays."""
        tables = [(arrays[f"{p}_hashes"].astype(np.uint64), arrays[f"{p}_valences"]) for p in prefixes]
        self.hashes = np.unique(np.concatenate([h for h, _ in tables]))
        self.valences = np.zeros((len(self.hashes), len(tables)))
        for j, (h, v) in enumerate(tables):
            self.valences[np.searchsorted(self.hashes, h), j] = v
        self.n_lexicons = len(tables)
        self.negators = np.sort(arrays["lex_negators"]).astype(np.uint64)
        self.boosters = np.sort(arrays["lex_boosters"]).astype(np.uint64)
        self.buts = np.sort(arrays["lex_buts"]).astype(np.uint64)

    @staticmethod
    def _member(keys: U64Array, table: U64Array) -> tuple[npt.NDArray[np.bool_], IntArray]:
        if len(table) == 0:
            return np.zeros(len(keys), dtype=bool), np.zeros(len(keys), np.int64)
        pos = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return table.take(pos) == keys, pos

    def features(
        self,
        wdoc: IntArray,
        wh: U64Array,
        n_docs: int,
        extra: FloatArray | None = None,
        rules: bool = True,
    ) -> FloatArray:
        """``(n_docs, 3 * n_lexicons)``: positive sum, negative sum, compound of each lexicon.

        ``extra``: optional ``(n_docs, 2)`` positive and negative valence sums (emoji, emoticons)
        added to the first lexicon's sums before its compound is taken. ``rules=False`` drops the
        negation, booster and "but" rules (plain valence sums).
        """
        out = np.zeros((n_docs, self.N_FEATURES * self.n_lexicons))
        if len(wh) == 0 and extra is None:
            return out
        if len(wh) == 0:
            wdoc, wh = np.zeros(0, np.int64), np.zeros(0, np.uint64)
        hit, pos = self._member(wh, self.hashes)
        val = np.where(hit[:, None], self.valences.take(pos, axis=0), 0.0)
        if not rules:
            return self._sums(out, wdoc, val, n_docs, extra)
        same1 = np.zeros(len(wh), dtype=bool)
        same1[1:] = wdoc[1:] == wdoc[:-1]
        boost = np.zeros(len(wh), dtype=bool)
        boost[1:] = self._member(wh[:-1], self.boosters)[0] & same1[1:]
        neg = self._member(wh, self.negators)[0]
        negated = np.zeros(len(wh), dtype=bool)
        for k in (1, 2, 3):
            negated[k:] |= neg[:-k] & (wdoc[:-k] == wdoc[k:])
        factor = np.where(negated, -0.74, 1.0)
        but = self._member(wh, self.buts)[0]
        if but.any():
            cum = np.cumsum(but, dtype=np.int64)
            first_word = np.flatnonzero(~same1)  # first word of each text that has words
            before_text = cum[first_word] - but[first_word].astype(np.int64)  # "but"s of earlier texts
            base: IntArray = np.repeat(before_text, np.diff(np.append(first_word, len(wh))))
            after = (cum - base) > 0
            has_but = np.bincount(wdoc, weights=but, minlength=n_docs)[wdoc] > 0
            factor = factor * np.where(has_but, np.where(after & ~but, 1.5, 0.5), 1.0)
        val = (val + np.sign(val) * (0.293 * boost)[:, None]) * factor[:, None]
        return self._sums(out, wdoc, val, n_docs, extra)

    def _sums(
        self, out: FloatArray, wdoc: IntArray, val: FloatArray, n_docs: int, extra: FloatArray | None
    ) -> FloatArray:
        for j in range(self.n_lexicons):
            pos_sum = np.bincount(wdoc, weights=np.maximum(val[:, j], 0), minlength=n_docs).astype(np.float64)
            neg_sum = np.bincount(wdoc, weights=np.minimum(val[:, j], 0), minlength=n_docs).astype(np.float64)
            if extra is not None and j == 0:
                pos_sum = pos_sum + extra[:, 0]
                neg_sum = neg_sum + extra[:, 1]
            total = pos_sum + neg_sum
            out[:, 3 * j] = pos_sum / 4.0
            out[:, 3 * j + 1] = neg_sum / 4.0
            out[:, 3 * j + 2] = total / np.sqrt(total * total + 15.0)
        return out


_NOT_IN_LEXICON = np.uint64(0x5BD1E9955BD1E995)  # xor-ed into the hash of a word the lexicons skip
_TITLE_BEFORE = np.array([ord(c) for c in ",;:'\""], dtype=np.uint64)


def title_case_words(texts: Sequence[str], wdoc: IntArray) -> npt.NDArray[np.bool_]:
    """Per word of the batch's word stream (``word_hashes`` order): a mid-sentence Title-case word?

    A word starting with ``[A-Z][a-z]`` right after one space that follows a letter, digit or one of
    ``, ; : ' "`` is most often part of a name ("Black Friday", "on Sunday", "Super Eagles"), so
    the lexicons skip it; sentence starts (text start, after . ! ?) keep their words. Computed on
    the original-case code points of the joined batch and matched to the lower-cased word stream
    by order within each text (a text whose word count differs after lower-casing, which only some
    rare Unicode letters cause, keeps all its words).
    """
    n = len(texts)
    joined = _SEP + _SEP.join(texts) + _SEP
    if joined.count(_SEP) != n + 1:
        joined = _SEP + _SEP.join(t.replace(_SEP, " ") for t in texts) + _SEP
    c = np.frombuffer(joined.replace("\u2019", "'").encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    mask = english_token_mask(c)
    s = np.flatnonzero(mask[1:] & ~mask[:-1]) + 1  # word starts; c[0] is a separator, so s >= 1
    doc = (np.cumsum(c == 0) - 1)[s]
    b = c[np.maximum(s - 2, 0)]
    before = ((b >= 97) & (b <= 122)) | ((b >= 65) & (b <= 90)) | ((b >= 48) & (b <= 57))
    nxt = c[np.minimum(s + 1, len(c) - 1)]
    flags = (
        (s >= 2)
        & (c[s] >= 65)
        & (c[s] <= 90)
        & (nxt >= 97)
        & (nxt <= 122)
        & (c[s - 1] == _SPACE)
        & (before | np.isin(b, _TITLE_BEFORE))
    )
    same = np.bincount(doc, minlength=n) == np.bincount(wdoc, minlength=n)
    out = np.zeros(len(wdoc), dtype=bool)
    out[same[wdoc]] = flags[same[doc]]
    return out


def punctuation_features(texts: Sequence[str]) -> FloatArray:
    """Per text: ``min(count, 4) / 2`` of "!" and of "?" (emphasis/excitement and questions)."""
    counts = np.array([(t.count("!"), t.count("?")) for t in texts], dtype=np.float64).reshape(-1, 2)
    return np.minimum(counts, 4.0) / 2.0


class EmojiValences:
    """Valence of single emoji code points and of emoticon tokens, as extra lexicon entries (on the
    -4..4 lexicon scale).

    Tweets use emoji and emoticons (":)", ":-(", "<3") where they would use sentiment words, and the
    word features never see them. A text's valences are added to the first lexicon's
    positive/negative sums, so they reach the score through weights learned from words (the training
    data has no emoji to learn from; its tweets have emoticons). Emoticons are whitespace-delimited
    tokens looked up lower-cased, as VADER does.
    """

    def __init__(
        self,
        codepoints: npt.NDArray[np.integer[Any]],
        valences: npt.NDArray[np.floating[Any]],
        emoticons: npt.NDArray[np.str_] | None = None,
        emoticon_valences: npt.NDArray[np.floating[Any]] | None = None,
    ) -> None:
        order = np.argsort(codepoints, kind="stable")
        self.codepoints = np.asarray(codepoints, dtype=np.int64)[order]
        self.valences = np.asarray(valences, dtype=np.float64)[order]
        self.table = dict(zip(self.codepoints.tolist(), self.valences.tolist(), strict=True))
        self.emoticons: dict[str, float] = {}
        if emoticons is not None and emoticon_valences is not None:
            values = np.asarray(emoticon_valences, np.float64).tolist()
            self.emoticons = dict(zip([str(e) for e in emoticons], values, strict=True))
        # the table's characters and emoticons as sets: most texts have none, which a set test tells
        # without a Python loop (a regex character class of hundreds of emoji is slower)
        self._emoji_set = frozenset(chr(c) for c in self.table)
        self._emoticon_set = frozenset(self.emoticons)

    def sums(self, texts: Sequence[str]) -> FloatArray:
        """``(n, 2)``: per text, the sum of positive and of negative emoji and emoticon valences.

        Each text's valences are added in text order (emoticon tokens, then emoji), so the sums do
        not depend on how the matches are found: most texts have neither, which a set test (tokens)
        and a set test of its characters (emoji) tell without a Python loop over the text.
        """
        out = np.zeros((len(texts), 2))
        table = self.table
        emoticons = self.emoticons
        emoticon_set = self._emoticon_set
        emoji_set = self._emoji_set
        for i, text in enumerate(texts):
            if emoticons:
                tokens = text.lower().split()
                if not emoticon_set.isdisjoint(tokens):
                    for token in tokens:
                        v = emoticons.get(token)
                        if v is not None:
                            out[i, 0 if v > 0 else 1] += v
            if text.isascii() or emoji_set.isdisjoint(text):
                continue
            for ch in _REPEAT.sub(r"\1\1", text):
                v = table.get(ord(ch))
                if v is not None:
                    out[i, 0 if v > 0 else 1] += v
        return out


def english_dense_features(
    texts: Sequence[str],
    wdoc: IntArray,
    wh: U64Array,
    lexicon: Lexicon,
    title_case: bool,
    punctuation: bool,
    emoji: EmojiValences | None = None,
    rules: bool = True,
) -> FloatArray:
    """The English model's dense columns: 3 per lexicon, then the 2 punctuation counts (if enabled)."""
    if title_case and len(wh):
        wh = np.where(title_case_words(texts, wdoc), wh ^ _NOT_IN_LEXICON, wh)
    extra = emoji.sums(texts) if emoji is not None else None
    cols = [lexicon.features(wdoc, wh, len(texts), extra, rules)]
    if punctuation:
        cols.append(punctuation_features(texts))
    return np.hstack(cols)


def english_word_hash(words: Sequence[str]) -> U64Array:
    """Hash whole words exactly as ``word_hashes`` does inside a batch (used to build the lexicon)."""
    codes = encode(list(words))
    wdoc, wh = word_hashes(codes, english_token_mask(codes))
    out = np.zeros(len(words), dtype=np.uint64)
    first = np.ones(len(wdoc), dtype=bool)
    first[1:] = wdoc[1:] != wdoc[:-1]
    out[wdoc[first]] = wh[first]  # entries are single words; keep the first token of each
    return out


# --------------------------------------------------------------------------------------------------
# Models


class LinearTextModel:
    """One language's model: hashed-feature weights (+ optional lexicon features) -> score."""

    def __init__(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.config = config
        self.spec = FeatureSpec.from_json(config["features"])
        # float16 like the stored weights (exact), half the memory of float32 for 2^24 buckets
        self.weights = np.zeros(1 << self.spec.bits, dtype=np.float16)
        self.weights[arrays["idx"].astype(np.int64)] = arrays["w"].astype(np.float16)
        self.bias = float(config["bias"])
        self.center = float(config["center"])
        self.scale = float(config["scale"])
        self.neutral_band = float(config["neutral_band"])
        # English only: lexicon (+ punctuation) features; "lexicons" names the npz array prefixes
        self.lexicon: Lexicon | None = None
        self.lexicon_weights = np.zeros(0)
        self.title_case = bool(config.get("title_case", False))
        self.punctuation = bool(config.get("punctuation", False))
        self.rules = bool(config.get("lexicon_rules", True))
        self.emoji: EmojiValences | None = None
        if "lex_hashes" in arrays:
            self.lexicon = Lexicon(arrays, config.get("lexicons", ["lex"]))
            self.lexicon_weights = np.asarray(config["lexicon_weights"], dtype=np.float64)
        if "emoji_codepoints" in arrays:
            emoticons = bool(config.get("emoticons", False)) and "emoticon_tokens" in arrays
            self.emoji = EmojiValences(
                arrays["emoji_codepoints"],
                arrays["emoji_valences"],
                arrays["emoticon_tokens"] if emoticons else None,
                arrays["emoticon_valences"] if emoticons else None,
            )

    def featurise(self, texts: Sequence[str]) -> tuple[IntArray, IntArray, FloatArray]:
        """(doc, bucket) of every hashed feature occurrence, and the dense columns (may be 0 wide)."""
        return self._featurise(texts)

    def _featurise(
        self, texts: Sequence[str], where: IntArray | None = None
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """:meth:`featurise`; with ``where``, text ``k``'s features carry document ``where[k]``."""
        docs, ids, wdoc, wh = self._hashed(texts, where)
        if self.lexicon is not None:
            dense = english_dense_features(
                texts, wdoc, wh, self.lexicon, self.title_case, self.punctuation, self.emoji, self.rules
            )
        else:
            dense = np.zeros((len(texts), 0))
        return docs, ids, dense

    def hashed_features(self, texts: Sequence[str]) -> tuple[IntArray, IntArray]:
        """:meth:`featurise` without the dense columns, for callers that only re-weigh the buckets."""
        docs, ids, _, _ = self._hashed(texts)
        return docs, ids

    def _hashed(
        self, texts: Sequence[str], where: IntArray | None = None
    ) -> tuple[IntArray, IntArray, IntArray, U64Array]:
        docs, ids, _, wdoc, wh = _feature_parts(texts, self.spec, where)
        return np.concatenate(docs), np.concatenate(ids), wdoc, wh

    def weights_of(self, ids: IntArray) -> FloatArray:
        """The hashed weights of ``ids`` as float64: the float16 weights' bit patterns looked up in a
        table of all 2^16 float16 values (exact, and faster than numpy's float16 conversion)."""
        return _FLOAT16_VALUES.take(self.weights.view(np.uint16).take(ids))

    def decision_from(self, n: int, docs: IntArray, ids: IntArray, dense: FloatArray) -> FloatArray:
        """Decision values from :meth:`featurise`'s output (so callers can reuse the features)."""
        total = np.bincount(docs, weights=self.weights_of(ids), minlength=n)
        count = np.bincount(docs, minlength=n)
        return self._decision(total, np.sqrt(np.maximum(count, 1.0)), dense)

    def _decision(self, total: npt.NDArray[Any], root_count: FloatArray, dense: FloatArray) -> FloatArray:
        """Decision values from the texts' weight sums and the square roots of their feature counts."""
        z = total / root_count + self.bias
        if dense.shape[1]:
            z += dense @ self.lexicon_weights
        return z

    def decision(self, texts: Sequence[str]) -> FloatArray:
        """Raw decision value per text (before centring and tanh)."""
        return self.decision_from(len(texts), *self.featurise(texts))

    def scores(self, texts: Sequence[str]) -> FloatArray:
        return np.tanh((self.decision(texts) - self.center) / self.scale)


@dataclass(frozen=True)
class TextAnalysis:
    """A batch's sentiment plus the hashed features it was computed from (one tokenisation).

    ``docs``/``ids`` list every hashed feature occurrence: the text's position in the batch and a
    bucket that is unique across languages (Korean buckets as is, English ones offset by
    ``EN_BUCKET_OFFSET``). ``norm`` is ``1/sqrt(occurrences)`` per text, the sentiment models' length
    normalisation. Downstream text models (complaints) re-weigh these instead of re-tokenising.
    """

    predictions: list[Prediction]
    docs: IntArray
    ids: IntArray
    norm: FloatArray
    routed: list[str]  # per text: "ko" or "en" (the model that scored it), "" without text


EN_BUCKET_OFFSET = 1 << 32


class SentimentModel:
    """Routes each text to the Korean or English model; see the module docstring."""

    def __init__(self, models: dict[str, LinearTextModel]) -> None:
        self.models = models

    def predict(
        self, texts: Sequence[str | None], languages: Sequence[str] | None = None
    ) -> list[Prediction]:
        """Predict a batch. ``languages`` (from ``detect_languages``) skips re-detection."""
        return self.analyse(texts, languages).predictions

    def analyse(self, texts: Sequence[str | None], languages: Sequence[str] | None = None) -> TextAnalysis:
        """Predict a batch and keep its hashed features (see :class:`TextAnalysis`)."""
        n = len(texts)
        if languages is None:
            languages = detect_languages(list(texts), [None] * n)
        elif len(languages) != n:
            raise ValueError("languages must have one entry per text")
        ko_idx: list[int] = []
        en_idx: list[int] = []
        for i, (text, lang) in enumerate(zip(texts, languages, strict=True)):
            if not text or text.isspace():
                continue
            if lang == KO or (lang != EN and _korean_or_letterless(text)):
                ko_idx.append(i)
            else:
                en_idx.append(i)
        # Both languages' feature occurrences, numbered by batch position: one weight sum and one
        # occurrence count per text for the whole batch (a text's features are all of one language,
        # summed in the same order as the language model alone would).
        parts: list[tuple[str, IntArray, IntArray, IntArray, FloatArray]] = []
        for lang, idx in ((KO, ko_idx), (EN, en_idx)):
            if idx:
                where = np.asarray(idx, dtype=np.int64)
                docs, ids, dense = self.models[lang]._featurise([texts[i] or "" for i in idx], where)
                parts.append((lang, where, docs, ids, dense))
        empty = np.zeros(0, np.int64)
        all_docs = np.concatenate([p[2] for p in parts]) if parts else empty
        total = np.bincount(
            all_docs,
            weights=np.concatenate([self.models[lang].weights_of(ids) for lang, _, _, ids, _ in parts])
            if parts
            else np.zeros(0),
            minlength=n,
        )
        root_count = np.sqrt(np.maximum(np.bincount(all_docs, minlength=n), 1.0))
        scores = np.zeros(n)
        bands = np.zeros(n)
        norm = np.zeros(n)
        routed = [""] * n
        for lang, where, _, _, dense in parts:
            model = self.models[lang]
            z = model._decision(total[where], root_count[where], dense)
            scores[where] = np.tanh((z - model.center) / model.scale)
            bands[where] = model.neutral_band
            norm[where] = 1.0 / root_count[where]
            for i in where.tolist():
                routed[i] = lang
        return TextAnalysis(
            predictions=_predictions(scores, bands),
            docs=all_docs,
            ids=np.concatenate(
                [ids + EN_BUCKET_OFFSET if lang == EN else ids for lang, _, _, ids, _ in parts]
            )
            if parts
            else empty,
            norm=norm,
            routed=routed,
        )


def _predictions(scores: FloatArray, bands: FloatArray) -> list[Prediction]:
    """Label a batch at once (see :func:`_label`), then one :class:`Prediction` per text."""
    positive = (scores >= bands) & (scores > 0)
    negative = (scores <= -bands) & (scores < 0)
    codes = (1 + positive.view(np.int8) - negative.view(np.int8)).tolist()
    return [Prediction(LABELS[k], s) for k, s in zip(codes, scores.tolist(), strict=True)]


_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]")


def _has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def _korean_or_letterless(text: str) -> bool:
    """An "other" text for the Korean model: it has Hangul, or no letters at all (digits, "^^", "...")."""
    return _has_hangul(text) or _LETTER.search(text) is None


def _label(score: float, band: float) -> str:
    if score >= band and score > 0:
        return POSITIVE
    if score <= -band and score < 0:
        return NEGATIVE
    return NEUTRAL


def load_language_model(path: Path, lang: str) -> LinearTextModel:
    config = json.loads((path / f"sentiment_{lang}.json").read_text(encoding="utf-8"))
    with np.load(path / f"sentiment_{lang}.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return LinearTextModel(config, arrays)


@functools.cache
def load_model(path: Path = MODEL_DIR) -> SentimentModel:
    """Load (once per process) the committed artifacts; no training data is needed at run time."""
    return SentimentModel({KO: load_language_model(path, KO), EN: load_language_model(path, EN)})
