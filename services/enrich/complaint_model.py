"""Learned complaint flag with reasons: is this event a customer complaining to the brand, and why?

Why a model over the rules of :mod:`services.enrich.complaints`: the cue lexicon catches the phrasing
it lists and little else (on English tweets to brands in industries it was never written for, F1
0.61). Here a logistic regression weighs three kinds of evidence, all computed in the same pass as
sentiment:

* the sentiment models' own hashed n-grams (English word uni/bigrams, Korean character, space-free
  and jamo n-grams), taken from :class:`services.enrich.sentiment.TextAnalysis` and folded into
  ``2^bits`` buckets: no second tokenisation of the text;
* the rule lexicon's cue counts (strong, weak, negated, resolved, sarcasm, laughter, a brand-side
  target, an address to the brand), as dense columns;
* the sentiment score (and its negative part).

Which events can be complaints stays a rule (as in :mod:`services.enrich.complaints`): brand
accounts never; comments, replies, mentions and messages by the model; posts and shares only when
they address the brand. Every flagged event gets up to three *reasons*: the cue phrases, words or
word pairs (Korean: eojeol) whose weights pushed it over the threshold most, and "negative tone"
when the sentiment score did. The weights, threshold and hyper-parameters come from
``services.enrich.training.complaints_train`` (leave-one-industry-out cross-validation); see
``models/MODEL_CARD.md``.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.enrich import complaints as rules
from services.enrich.sentiment import (
    EN_BUCKET_OFFSET,
    MODEL_DIR,
    LinearTextModel,
    SentimentModel,
    TextAnalysis,
    load_model,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MAX_REASONS = 3
PIECE_CACHE_SIZE = 200_000  # reason pieces whose weight sums are kept (a few tens of MB at most)
REASON_MIN_SHARE = 0.25  # a reason must carry at least this share of the strongest one's contribution
NEGATIVE_TONE = "negative tone"
# dense columns, in order; the cue columns are capped counts of the rule lexicon's matches
CUE_COLUMNS = ("strong", "weak", "neg", "res", "sarc", "lol", "target", "address")
DENSE_COLUMNS = (*CUE_COLUMNS, "score", "negative_score", "korean")
_CUE_CAP = 3.0
_CUE_INDEX = {kind: k for k, kind in enumerate(CUE_COLUMNS)}
_EN_WORD = re.compile(r"[a-z0-9'\u00c0-\u024f]+")
_KO_WORD = re.compile(r"[^\s.,!?~\"'()\[\]]+")
# the same words, as ``re.split`` groups: gap, word, gap, ..., word, gap
_EN_SPLIT = re.compile(f"({_EN_WORD.pattern})")
_KO_SPLIT = re.compile(f"({_KO_WORD.pattern})")


def fold(ids: IntArray, bits: int, offset: int = 0) -> IntArray:
    """Sentiment feature buckets (Korean and offset English ones) -> the complaint model's 2^bits.

    ``offset`` is added to ``ids`` first (``EN_BUCKET_OFFSET`` for raw English buckets), in the
    same pass as the hash's own ``+ 1``.
    """
    mixed = ids.view(np.uint64) + np.uint64(offset + 1)  # ids >= 0: the same values; a new array
    mixed *= _GOLDEN
    mixed >>= np.uint64(64 - bits)
    return mixed.view(np.int64)  # < 2^bits: the same values


@dataclass(frozen=True, slots=True)
class ComplaintResult:
    """``flag``: a complaint; ``reasons``: why, strongest first (empty unless flagged)."""

    flag: bool
    reasons: tuple[str, ...]


_NOT_FLAGGED = ComplaintResult(False, ())
_SCAN_KO = rules._Scanner(rules._cues(english=False, korean=True))
# Every English cue has an ASCII letter or digit: a text without one is scanned with the Korean cues
# alone (the same matches, found faster).
_ASCII_ALNUM = re.compile(r"[a-z0-9]")


def dense_features(
    normalised: Sequence[str], scores: Sequence[float], routed: Sequence[str]
) -> tuple[FloatArray, list[list[tuple[str, int, int]]]]:
    """``(n, len(DENSE_COLUMNS))`` dense columns and each text's cue matches (for the reasons).

    Column by column over the batch: the scan per text, the counts of all texts in one ``bincount``.
    """
    n = len(normalised)
    scan_en, scan_ko, scan_all = rules._SCAN_EN.matches, _SCAN_KO.matches, rules._SCAN_ALL.matches
    ascii_alnum = _ASCII_ALNUM.search
    all_matches = [
        (scan_en(t) if lang == "en" else (scan_ko(t) if ascii_alnum(t) is None else scan_all(t))) if t else []
        for t, lang in zip(normalised, routed, strict=True)
    ]
    out = np.zeros((n, len(DENSE_COLUMNS)))
    cells = [
        i * len(DENSE_COLUMNS) + _CUE_INDEX[kind]
        for i, found in enumerate(all_matches)
        for kind, _, _ in found
    ]
    if cells:
        counts = np.bincount(np.array(cells, dtype=np.int64), minlength=n * len(DENSE_COLUMNS))
        out[:, :6] = np.minimum(counts.reshape(n, len(DENSE_COLUMNS))[:, :6], _CUE_CAP)
    target_en, target_all, address = rules._TARGET_EN.search, rules._TARGET_ALL.search, rules._ADDRESS.search
    out[:, 6] = [
        (target_en(t) if lang == "en" else target_all(t)) is not None
        for t, lang in zip(normalised, routed, strict=True)
    ]
    out[:, 7] = [address(t) is not None for t in normalised]
    out[:, 8] = scores
    np.maximum(-out[:, 8], 0.0, out=out[:, 9])
    out[:, 10] = [lang == "ko" for lang in routed]
    return out, all_matches


class ComplaintModel:
    """Logistic regression over shared hashed n-grams + cue/sentiment columns; see the module doc."""

    skip_hopeless_scans = True  # see assess(); off only to check that it changes nothing

    def __init__(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.config = config
        self.bits = int(config["bits"])
        self.weights = np.zeros(1 << self.bits, dtype=np.float32)
        self.weights[arrays["idx"].astype(np.int64)] = arrays["w"].astype(np.float32)
        self.dense_weights = np.asarray(config["dense_weights"], dtype=np.float64)
        self.bias = float(config["bias"])
        self.threshold = float(config["threshold"])  # on the decision value (log-odds)
        self._pieces: weakref.WeakKeyDictionary[LinearTextModel, dict[str, float]] = (
            weakref.WeakKeyDictionary()
        )

    def _piece_sums(self, model: LinearTextModel, lang: str, pieces: list[str]) -> FloatArray:
        """Per piece (a word, word pair or eojeol of a flagged text; repeats allowed), the sum of this
        model's weights over the sentiment model's hashed n-grams of the piece alone.

        A piece's sum depends on nothing else (not even the other pieces featurised with it), so it
        is kept (per sentiment model, up to ``PIECE_CACHE_SIZE`` pieces, then the cache starts
        over): words recur within and across batches. Lookups are ``map`` calls, not a Python loop.
        """
        cache = self._pieces.setdefault(model, {})
        known = list(map(cache.get, pieces))
        if None not in known:
            return np.fromiter(known, np.float64, len(known))
        new = list(
            dict.fromkeys(itertools.compress(pieces, map(operator.is_, known, itertools.repeat(None))))
        )
        docs, ids = model.hashed_features(new)
        weights = self.weights.take(fold(ids, self.bits, EN_BUCKET_OFFSET if lang == "en" else 0))
        fresh = dict(zip(new, np.bincount(docs, weights=weights, minlength=len(new)).tolist(), strict=True))
        if len(cache) + len(new) > PIECE_CACHE_SIZE:
            cache.clear()
        cache.update(fresh)
        return np.fromiter(map(fresh.get, pieces, known), np.float64, len(pieces))  # known: not in fresh

    def forget_pieces(self) -> None:
        """Empty the piece cache (benchmarks measure from a cold start)."""
        self._pieces.clear()

    def hashed_scores(self, analysis: TextAnalysis, n: int) -> FloatArray:
        w = self.weights.take(fold(analysis.ids, self.bits))
        return np.bincount(analysis.docs, weights=w, minlength=n) * analysis.norm

    def decision(self, analysis: TextAnalysis, dense: FloatArray) -> FloatArray:
        n = len(analysis.predictions)
        return self.hashed_scores(analysis, n) + dense @ self.dense_weights + self.bias

    def assess(
        self,
        texts: Sequence[str | None],
        event_types: Sequence[str],
        is_brand: Sequence[bool],
        analysis: TextAnalysis,
        sentiment: SentimentModel | None = None,
    ) -> list[ComplaintResult]:
        """One result per event; ``analysis`` is the sentiment pass over exactly these ``texts``."""
        n = len(texts)
        if not (len(event_types) == len(is_brand) == len(analysis.predictions) == n):
            raise ValueError("texts, event_types, is_brand and the analysis must align")
        normalised = [rules._normalise(t) if t else "" for t in texts]
        scores = [p.score for p in analysis.predictions]
        routed = analysis.routed
        eligible = [
            bool(normalised[i])
            and not is_brand[i]
            and routed[i] != ""
            and (
                event_types[i] in rules.DIRECTED_EVENT_TYPES or event_types[i] in rules.ADDRESSED_EVENT_TYPES
            )
            for i in range(n)
        ]
        dense = np.zeros((n, len(DENSE_COLUMNS)))
        dense[:, 8] = scores
        dense[:, 9] = np.maximum(-dense[:, 8], 0.0)
        dense[:, 10] = [lang == "ko" for lang in routed]
        partial = self.hashed_scores(analysis, n) + dense @ self.dense_weights + self.bias
        # The cue columns are bounded, so a text whose score stays under the threshold even with
        # every cue at its cap cannot be flagged: skip its (Python) cue scan. Exact, not a shortcut.
        caps = np.array([_CUE_CAP] * 6 + [1.0, 1.0])
        ceiling = float(np.maximum(self.dense_weights[: len(CUE_COLUMNS)], 0.0) @ caps)
        if not self.skip_hopeless_scans:
            ceiling = np.inf
        reach = (partial + ceiling >= self.threshold).tolist()
        scan = [i for i in range(n) if eligible[i] and reach[i]]
        matches: dict[int, list[tuple[str, int, int]]] = {}
        if scan:
            found, found_matches = dense_features(
                [normalised[i] for i in scan], [scores[i] for i in scan], [routed[i] for i in scan]
            )
            dense[scan] = found
            matches = dict(zip(scan, found_matches, strict=True))
        z = partial + dense[:, : len(CUE_COLUMNS)] @ self.dense_weights[: len(CUE_COLUMNS)]
        flagged = [
            i
            for i in scan
            if z[i] >= self.threshold and (event_types[i] in rules.DIRECTED_EVENT_TYPES or dense[i, 7] > 0)
        ]
        results = [_NOT_FLAGGED] * n  # immutable, so one shared instance
        if flagged:
            reasons = self.explain(
                [normalised[i] for i in flagged],
                [routed[i] for i in flagged],
                dense[flagged],
                [matches[i] for i in flagged],
                analysis.norm[flagged],
                sentiment or load_model(),
            )
            for i, why in zip(flagged, reasons, strict=True):
                results[i] = ComplaintResult(True, why)
        return results

    def explain(
        self,
        normalised: Sequence[str],
        routed: Sequence[str],
        dense: FloatArray,
        matches: Sequence[list[tuple[str, int, int]]],
        norm: FloatArray,
        sentiment: SentimentModel,
    ) -> list[tuple[str, ...]]:
        """Top contributing cue phrases / words / word pairs per text, strongest first.

        A candidate's contribution: for a cue, its column's weight; for a word or word pair, the
        weights of the hashed n-grams of that span alone, scaled by the text's length normalisation;
        for the tone, the sentiment columns' share. Overlapping spans are kept once (the stronger);
        candidates under a quarter of the strongest one's contribution are not reasons.

        The words and pairs of all texts of a language are found and weighed together
        (:func:`_word_spans`, :meth:`_piece_sums`); only the few that can still be reasons (a
        text's strongest ``3 * MAX_REASONS``, at or over its floor) reach the per-text ranking.
        """
        n = len(normalised)
        # per text, (-contribution, start, label, nth, end): in Python's tuple order, strongest
        # first, then by start and label, then in the order found (nth: cues, then pieces), as a
        # stable sort by the first three would have it, but without a key function
        candidates: list[list[tuple[float, int, str, int, int]]] = [[] for _ in range(n)]
        cue_weight = {kind: float(self.dense_weights[_CUE_INDEX[kind]]) for kind in ("strong", "weak")}
        # the tone's share per text, for the whole batch at once (the same products and sums)
        tones = (dense[:, 8] * self.dense_weights[8] + dense[:, 9] * self.dense_weights[9]).tolist()
        negative = (dense[:, 8] < 0).tolist()
        best = [-np.inf] * n  # per text, its strongest candidate (pieces added below)
        for i, text in enumerate(normalised):
            cands = candidates[i]
            for nth, (kind, start, end) in enumerate(matches[i], -len(matches[i])):  # nth < 0
                if kind in cue_weight:
                    cands.append((-cue_weight[kind], start, text[start:end].strip(), nth, end))
            if tones[i] > 0 and negative[i]:
                cands.append((-tones[i], -1, NEGATIVE_TONE, 0, -1))
            if cands:
                best[i] = -min(cands)[0]
        # the pieces of both languages in one set of arrays (a text has one language)
        columns: list[tuple[IntArray, IntArray, IntArray, IntArray, FloatArray]] = []
        pieces: list[str] = []
        for lang in ("ko", "en"):
            members = [i for i in range(n) if routed[i] == lang]
            if not members:
                continue
            local, starts, stops, seq, found = _word_spans([normalised[i] for i in members], lang == "en")
            if not found:
                continue
            text_of = np.array(members, dtype=np.int64).take(local)
            values = self._piece_sums(sentiment.models[lang], lang, found) * norm.take(text_of)
            columns.append((text_of, starts, stops, seq, values))
            pieces += found
        if columns:
            text_of, starts, stops, seq, values = (
                np.concatenate(column) for column in zip(*columns, strict=True)
            )
            # per text, only its strongest few pieces can become reasons (overlaps drop some), and
            # of those only the ones > 0 and at or over its floor (a quarter of its strongest candidate)
            order = _strongest_first(text_of, values, seq)
            ordered_text = text_of.take(order)
            rank = np.arange(len(order)) - np.searchsorted(ordered_text, ordered_text)
            heads = order[rank == 0]
            floors = np.array(best)
            head_text = text_of.take(heads)
            floors[head_text] = np.maximum(floors.take(head_text), values.take(heads))
            floors *= REASON_MIN_SHARE
            keep = order[rank < 3 * MAX_REASONS]
            strength = values.take(keep)
            keep = keep[(strength >= floors.take(text_of.take(keep))) & (strength > 0)]
            for nth, (k, i, value, start, stop) in enumerate(
                zip(
                    keep.tolist(),
                    text_of.take(keep).tolist(),
                    (-values.take(keep)).tolist(),
                    starts.take(keep).tolist(),
                    stops.take(keep).tolist(),
                    strict=True,
                )
            ):
                candidates[i].append((value, start, pieces[k], nth, stop))
        out = []
        for cands in candidates:
            chosen: list[tuple[int, int]] = []
            why: list[str] = []
            cands.sort()
            floor = REASON_MIN_SHARE * -cands[0][0] if cands else 0.0
            for minus, start, label, _, end in cands:
                value = -minus
                if value <= 0 or value < floor or len(why) == MAX_REASONS:
                    break
                if start >= 0 and any(start < e and s < end for s, e in chosen):
                    continue
                if label in why:
                    continue
                why.append(label[:60])
                if start >= 0:
                    chosen.append((start, end))
            out.append(tuple(why))
        return out


def _strongest_first(text_of: IntArray, values: FloatArray, seq: IntArray) -> IntArray:
    """``np.lexsort((seq, -values, text_of))``: by text, strongest first, ties in reading order.

    As one quicksort of distinct integer keys (text, rank of the value, ``seq``): numpy's stable
    float sorts, which lexsort uses, are several times slower. Equal values share a rank, as in the
    lexsort. Very large batches, whose keys could overflow, take the lexsort.
    """
    levels, level = np.unique(-values, return_inverse=True)
    width = int(seq.max()) + 1
    if (int(text_of.max()) + 1) * len(levels) * width >= 1 << 62:
        return np.lexsort((seq, -values, text_of))
    key = text_of * len(levels)
    key += level
    key *= width
    key += seq
    return np.argsort(key)


def _word_spans(texts: list[str], english: bool) -> tuple[IntArray, IntArray, IntArray, IntArray, list[str]]:
    """Every word (English: and pair of neighbouring words) of ``texts``: its text's number, start
    and stop (in its text), reading order (word k of the batch at 2k, the pair it starts at 2k + 1)
    and the piece itself. Words first, then pairs.

    One regex split over the texts joined by spaces (a space is in no word, so the words are those
    of each text alone) instead of a regex pass and span lists per text.
    """
    joined = " ".join(texts)
    parts = (_EN_SPLIT if english else _KO_SPLIT).split(joined)  # gap, word, gap, ..., word, gap
    words = parts[1::2]
    ends = np.cumsum(np.fromiter(map(len, parts), np.int64, len(parts)))
    text_starts = np.zeros(len(texts), dtype=np.int64)  # in ``joined``
    np.cumsum(np.fromiter(map(len, texts[:-1]), np.int64, len(texts) - 1) + 1, out=text_starts[1:])
    text_of = np.searchsorted(text_starts, ends[0:-1:2], side="right") - 1
    offset = text_starts.take(text_of)
    starts, stops = ends[0:-1:2] - offset, ends[1::2] - offset
    seq = np.arange(0, 2 * len(words), 2, dtype=np.int64)
    if not english or len(words) < 2:
        return text_of, starts, stops, seq, words
    same = text_of[1:] == text_of[:-1]  # word k and word k + 1 are of one text
    pair = np.flatnonzero(same)
    within = same.tolist()
    gaps = parts[2:-1:2]
    pairs = list(
        map(
            operator.add,
            map(operator.add, itertools.compress(words, within), itertools.compress(gaps, within)),
            itertools.compress(words[1:], within),
        )
    )
    return (
        np.concatenate((text_of, text_of.take(pair))),
        np.concatenate((starts, starts.take(pair))),
        np.concatenate((stops, stops.take(pair + 1))),
        np.concatenate((seq, seq.take(pair) + 1)),
        words + pairs,
    )


def load_complaint_model_from(path: Path) -> ComplaintModel:
    config = json.loads((path / "complaints.json").read_text(encoding="utf-8"))
    with np.load(path / "complaints.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return ComplaintModel(config, arrays)


@functools.cache
def load_complaint_model(path: Path = MODEL_DIR) -> ComplaintModel:
    """Load (once per process) the committed artifacts; no training data is needed at run time."""
    return load_complaint_model_from(path)


def assess_batch(
    texts: Sequence[str | None],
    event_types: Sequence[str],
    is_brand: Sequence[bool],
    languages: Sequence[str],
) -> tuple[TextAnalysis, list[ComplaintResult]]:
    """Sentiment and complaint of a batch in one pass (the enrich agent's entry point)."""
    sentiment = load_model()
    analysis = sentiment.analyse(texts, languages)
    return analysis, load_complaint_model().assess(texts, event_types, is_brand, analysis, sentiment)
