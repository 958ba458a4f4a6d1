"""Evaluate the committed sentiment model on the dev sets and measure its throughput.

    make eval-sentiment  # python -m services.enrich.training.sentiment_eval --data DIR --out FILE.json

Everything goes through the public API (``load_model().predict``), language detection included:
* NSMC dev accuracy: sign of the score (score > 0 -> positive) against the 0/1 label;
* TweetEval validation macro-recall over negative/neutral/positive labels, with a 95 % bootstrap
  interval over tweets, beside two anchors: VADER alone (the ``vaderSentiment`` analyser with its
  published compound thresholds +-0.05, nothing tuned) and the published in-domain linear SVM.
  This is the only place TweetEval is read; nothing is chosen on it;
* texts/s per core: single process, BLAS/OpenMP pinned to 1 thread, on the NSMC dev + TweetEval
  texts shuffled together, in batches of ``--batch`` (best of ``--repeats`` passes), both with
  language detection and with languages given by the caller.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: throughput is per core

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from services.enrich.language import detect_languages  # noqa: E402
from services.enrich.sentiment import NEGATIVE, NEUTRAL, POSITIVE, load_model  # noqa: E402
from services.enrich.training.sentiment_train import load_nsmc, load_tweeteval, macro_recall  # noqa: E402

_LABEL_ID = {NEGATIVE: 0, NEUTRAL: 1, POSITIVE: 2}


def _throughput(texts: list[str], batch: int, repeats: int, with_detection: bool) -> float:
    model = load_model()
    langs = detect_languages(list(texts), [None] * len(texts))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            model.predict(chunk, None if with_detection else langs[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


BOOTSTRAP_SEED = 20260102
BOOTSTRAP_ROUNDS = 2000
# Published anchors quoted by the project's issue tracker (TweetEval-style tweets the project does
# not have): a linear SVM trained in-domain, and VADER alone.
PUBLISHED_ANCHORS = {"linear_svm_in_domain": 0.629, "vader_alone_unseen_tweets": 0.570}


def bootstrap_interval(y: np.ndarray, pred: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS) -> list[float]:
    """95 % percentile interval of the macro-recall, tweets resampled with replacement."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    stats = []
    for _ in range(rounds):
        i = rng.integers(0, len(y), len(y))
        stats.append(macro_recall(y[i], pred[i]))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return [float(lo), float(hi)]


def vader_alone(texts: Sequence[str]) -> np.ndarray:
    """VADER's own analyser, 3 classes by its published compound thresholds (>= 0.05, <= -0.05)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    compound = np.array([analyser.polarity_scores(t)["compound"] for t in texts])
    return np.where(compound <= -0.05, 0, np.where(compound >= 0.05, 2, 1))


def evaluate(data: Path, batch: int = 500, repeats: int = 3) -> dict[str, Any]:
    model = load_model()
    ko_texts, ko_labels = load_nsmc(data / "nsmc_dev.tsv")
    en_texts, en_labels = load_tweeteval(data / "tweeteval_sentiment")

    ko_pred = model.predict(ko_texts)
    ko_scores = np.array([p.score for p in ko_pred])
    en_pred = model.predict(en_texts)
    en_ids = np.array([_LABEL_ID[p.label] for p in en_pred])
    vader_pred = vader_alone(en_texts)
    ko_langs = detect_languages(list(ko_texts), [None] * len(ko_texts))
    only_ko = model.predict(ko_texts, ["ko"] * len(ko_texts))

    mixed = ko_texts + en_texts
    order = np.random.default_rng(0).permutation(len(mixed))
    mixed = [mixed[i] for i in order]
    result: dict[str, Any] = {
        "nsmc_dev_accuracy": float(np.mean((ko_scores > 0) == (ko_labels == 1))),
        "nsmc_dev_accuracy_all_routed_to_ko": float(
            np.mean((np.array([p.score for p in only_ko]) > 0) == (ko_labels == 1))
        ),
        "nsmc_dev_routed_to_en_or_other": int(sum(lang != "ko" for lang in ko_langs)),
        "nsmc_dev_neutral_share": float(np.mean([p.label == NEUTRAL for p in ko_pred])),
        "tweeteval_val_macro_recall": macro_recall(en_labels, en_ids),
        "tweeteval_val_macro_recall_95ci": bootstrap_interval(en_labels, en_ids),
        "tweeteval_val_vader_alone_macro_recall": macro_recall(en_labels, vader_pred),
        "tweeteval_val_vader_alone_95ci": bootstrap_interval(en_labels, vader_pred),
        "published_anchors": PUBLISHED_ANCHORS,
        "tweeteval_val_recall_per_class": [float(np.mean(en_ids[en_labels == c] == c)) for c in range(3)],
        "tweeteval_val_accuracy": float(np.mean(en_ids == en_labels)),
        "texts_per_second_per_core": _throughput(mixed, batch, repeats, with_detection=True),
        "texts_per_second_per_core_languages_given": _throughput(mixed, batch, repeats, with_detection=False),
        "throughput_texts": len(mixed),
        "batch_size": batch,
        "targets": {"nsmc_dev_accuracy": 0.89, "tweeteval_val_macro_recall": 0.64, "texts_per_second": 20000},
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/sentiment_eval.json"))
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    result = evaluate(args.data, args.batch, args.repeats)
    print(f"NSMC dev accuracy (sign of score):   {result['nsmc_dev_accuracy']:.4f}  (target >= 0.89)")
    print(
        f"TweetEval val macro-recall:          {result['tweeteval_val_macro_recall']:.4f}"
        "  (target >= 0.64; scored once, never chosen on)"
    )
    lo, hi = result["tweeteval_val_macro_recall_95ci"]
    vlo, vhi = result["tweeteval_val_vader_alone_95ci"]
    print(f"  95 % bootstrap interval:           [{lo:.4f}, {hi:.4f}]")
    vader = result["tweeteval_val_vader_alone_macro_recall"]
    print(
        f"  anchors: VADER alone {vader:.4f} [{vlo:.4f}, {vhi:.4f}];"
        f" published linear SVM in-domain {PUBLISHED_ANCHORS['linear_svm_in_domain']}"
    )
    print(
        f"texts/s per core (with lang detect): {result['texts_per_second_per_core']:.0f}  (target >= 20000)"
    )
    print(f"texts/s per core (languages given):  {result['texts_per_second_per_core_languages_given']:.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
