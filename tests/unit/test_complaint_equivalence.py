"""Speed work on the complaint pass must not change one output.

* the literal-first address and target patterns against the plain ones they replace (presence);
* the cue scanner against its oracle, ``finditer`` over one alternation of all cues (every match's
  kind, start and end, for the English, Korean and combined lexicons);
* the learned flag and its reasons against a golden file written by the implementation before the
  scanner's two finders, the de-duplicated reason features and the dense-free featurisation
  (``tests/data/complaint_golden.json``), on the hand-written samples and a few thousand simulator
  texts, in two batch sizes.

Regenerate the golden file only when the model itself is retrained on purpose:
``.venv/bin/python -m tests.unit.test_complaint_equivalence``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from services.enrich import complaint_model as CM
from services.enrich import complaints as rules
from services.enrich.language import detect_languages
from services.sim.simulator import SimulationConfig, simulate

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = DATA / "complaint_golden.json"
SAMPLES = ("complaints_labelled.tsv", "complaints_sample_2.tsv")
SIMULATOR_SEEDS = range(1, 25)

# Where a finder could miss or invent a candidate: text starts and ends, word starts after
# punctuation, emoji and Hangul, "a" inside words, the unanchored "as 요청", digits, code-mixing.
EDGE_CASES = [
    "",
    "a",
    "as",
    "as 요청합니다",
    "was 요청",
    "broken",
    "x broken",
    "😂broken app",
    "앱broken",
    "앱 login error 환불해 주세요",
    "refund 해주세요!!",
    "(not working) [still down] 'charged twice'",
    "@brand:not working",
    "3일째 배송 안 와요",
    "30분 넘게 기다렸는데",
    "ㅋㅋㅋ 최악",
    "ㅡㅡ 실망",
    "no problem, never disappoints",
    "…broken",
    "\nnot working\n",
    "why is my order late?? where is my package",
]


def corpus() -> list[tuple[str, str, bool]]:
    """(text, event type, is_brand): the hand-written samples, then distinct simulator texts."""
    rows: list[tuple[str, str, bool]] = []
    for name in SAMPLES:
        with (DATA / name).open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                rows.append((r["text"], r["event_type"], r["is_brand"] == "1"))
    seen = {text for text, _, _ in rows}
    for seed in SIMULATOR_SEEDS:
        for e in simulate(SimulationConfig(seed=seed, duration_seconds=3600)).events:
            if e.get("text") and e["text"] not in seen:
                seen.add(e["text"])
                rows.append((e["text"], e["event_type"], bool(e["is_brand"])))
    return rows


def assess_all(rows: list[tuple[str, str, bool]], batch: int) -> list[tuple[bool, tuple[str, ...]]]:
    out: list[tuple[bool, tuple[str, ...]]] = []
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        texts: list[str | None] = [t for t, _, _ in chunk]
        languages = detect_languages(texts, [None] * len(texts))
        _, results = CM.assess_batch(texts, [k for _, k, _ in chunk], [b for _, _, b in chunk], languages)
        out += [(r.flag, r.reasons) for r in results]
    return out


def digest(rows: list[tuple[str, str, bool]]) -> str:
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str, bool]]:
    return corpus()


SCANNERS = {"en": rules._SCAN_EN, "all": rules._SCAN_ALL, "ko": CM._SCAN_KO}


@pytest.mark.parametrize("lexicon", sorted(SCANNERS))
def test_scanner_finds_exactly_what_one_alternation_finds(lexicon: str, rows) -> None:
    scanner = SCANNERS[lexicon]
    assert scanner.fast  # the finders are in use, not the fallback
    texts = EDGE_CASES + [t for t, _, _ in rows]
    found = 0
    for text in map(rules._normalise, texts):
        expected = [(m.lastgroup, m.start(), m.end()) for m in scanner.reference.finditer(text)]
        assert scanner.matches(text) == expected, text
        assert set(scanner.candidates(text)) >= {start for _, start, _ in expected}, text
        found += len(expected)
    assert found > len(texts) // 4  # the texts do exercise the lexicon


PRESENCE = {
    "address": (rules._ADDRESS, rules._ADDRESS_REFERENCE),
    "target_en": (rules._TARGET_EN, rules._EN_TARGET),
    "target_all": (rules._TARGET_ALL, rules._EN_TARGET + "|" + rules._KO_TARGET),
}


@pytest.mark.parametrize("name", sorted(PRESENCE))
def test_literal_first_patterns_find_a_match_where_the_plain_ones_do(name: str, rows) -> None:
    fast, plain = PRESENCE[name][0], re.compile(PRESENCE[name][1])
    texts = [*EDGE_CASES, "u", "ur app", "your", "youre", "y'all", "yall", "guy", "you're", "youth", "menu"]
    texts += [t for t, _, _ in rows]
    hits = 0
    for text in map(rules._normalise, texts):
        assert (fast.search(text) is None) == (plain.search(text) is None), text
        hits += plain.search(text) is not None
    assert 100 < hits < len(texts) - 100  # both outcomes are exercised


def test_golden_file_describes_this_corpus(rows) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden["texts"] == len(rows) > 2500
    assert golden["corpus_sha256"] == digest(rows)
    assert 100 < len(golden["flagged"]) < len(rows)


@pytest.mark.parametrize("batch", [500, 37])
def test_flags_and_reasons_equal_the_golden_file(batch: int, rows) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    expected = {int(i): tuple(reasons) for i, reasons in golden["flagged"].items()}
    got = assess_all(rows, batch)
    flagged = {i: reasons for i, (flag, reasons) in enumerate(got) if flag}
    assert sorted(flagged) == sorted(expected)
    mismatched = [(rows[i][0], flagged[i], expected[i]) for i in expected if flagged[i] != expected[i]]
    assert not mismatched, mismatched[:5]
    assert all(reasons == () for flag, reasons in got if not flag)


def reference_dense(normalised: list[str], scores: list[float], routed: list[str]):
    """Text by text, with the plain patterns: one alternation of all cues (the English cues alone
    for English texts), the plain target and address patterns, then the score columns."""
    address = re.compile(rules._ADDRESS_REFERENCE)
    target = {"en": re.compile(rules._EN_TARGET), "ko": re.compile(rules._EN_TARGET + "|" + rules._KO_TARGET)}
    out = np.zeros((len(normalised), len(CM.DENSE_COLUMNS)))
    matches = []
    for i, (text, lang, score) in enumerate(zip(normalised, routed, scores, strict=True)):
        scanner = rules._SCAN_EN if lang == "en" else rules._SCAN_ALL
        found = [(m.lastgroup or "", m.start(), m.end()) for m in scanner.reference.finditer(text)]
        matches.append(found)
        for kind, _, _ in found:
            k = CM.CUE_COLUMNS.index(kind)
            if k < 6:
                out[i, k] = min(out[i, k] + 1, 3.0)
        out[i, 6] = target[lang].search(text) is not None
        out[i, 7] = address.search(text) is not None
        out[i, 8] = score
        out[i, 10] = lang == "ko"
    out[:, 9] = np.maximum(-out[:, 8], 0.0)
    return out, matches


def test_dense_features_equal_a_straightforward_reference(rows) -> None:
    texts = EDGE_CASES + [t for t, _, _ in rows[:800]]
    texts = [t for t in texts if t]
    languages = detect_languages(list[str | None](texts), [None] * len(texts))
    routed = ["en" if lang == "en" else "ko" for lang in languages]
    normalised = [rules._normalise(t) for t in texts]
    scores = [((i * 37) % 21 - 10) / 10 for i in range(len(texts))]
    got, got_matches = CM.dense_features(normalised, scores, routed)
    expected, matches = reference_dense(normalised, scores, routed)
    assert got.tobytes() == expected.tobytes()
    assert got_matches == matches
    assert expected[:, :8].sum(axis=0).min() > 0  # every cue column is exercised


def write_golden() -> None:
    rows = corpus()
    got = assess_all(rows, 500)
    flagged = {str(i): list(reasons) for i, (flag, reasons) in enumerate(got) if flag}
    golden = {
        "about": "complaint_model.assess_batch outputs on tests/unit/test_complaint_equivalence.corpus()",
        "texts": len(rows),
        "corpus_sha256": digest(rows),
        "flagged": flagged,
    }
    GOLDEN.write_text(json.dumps(golden, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}: {len(flagged)} flagged of {len(rows)}")


if __name__ == "__main__":
    write_golden()
