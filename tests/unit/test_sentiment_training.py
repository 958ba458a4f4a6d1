"""English sentiment selection helpers: the vectorised band search and the generated card block."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.enrich.training import sentiment_train as T


def _band_by_loop(z: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float, float]:
    grid = np.quantile(z, T.BAND_QUANTILES)
    masks = [groups == g for g in sorted(set(groups.tolist()))]
    best = (-1.0, 0.0, 0.0)
    for i, lo in enumerate(grid):
        for hi in grid[i:]:
            pred = T.three_way(z, lo, hi)
            r = float(np.mean([T.macro_recall(y[m], pred[m]) for m in masks]))
            if r > best[0] + 1e-12:
                best = (r, float(lo), float(hi))
    return best


def test_band_search_equals_the_plain_loop() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 600)
    z = (y - 1) * 0.8 + rng.normal(0, 1, 600)
    groups = np.array(["a", "b", "c"])[rng.integers(0, 3, 600)]
    got = T.best_band_across(z, y, groups)
    want = _band_by_loop(z, y, groups)
    assert abs(got[0] - want[0]) < 1e-9
    assert got[1:] == want[1:]
    assert got[1] <= got[2]


def test_card_table_replaces_only_the_marked_block(tmp_path: Path) -> None:
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(f"head\n{T.CARD_BEGIN}old\n{T.CARD_END}\ntail\n", encoding="utf-8")
    T.write_card_table(card, "| new |\n")
    assert card.read_text(encoding="utf-8") == f"head\n{T.CARD_BEGIN}| new |\n{T.CARD_END}\ntail\n"
