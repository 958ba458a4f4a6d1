from hypothesis import given
from hypothesis import strategies as st

from services.enrich.language import LANGUAGES, detect_language, detect_languages


def test_korean_including_mixed_script_posts() -> None:
    assert detect_language("배송이 너무 늦어요 ㅠㅠ") == "ko"
    assert detect_language("이번 iPhone 케이스 최고 #갤럭시 https://t.co/abc") == "ko"


def test_english() -> None:
    assert detect_language("Where is my refund? Still waiting.") == "en"
    assert detect_language("Love the new #Galaxy phone!") == "en"
    assert detect_language("wow") == "en"


def test_other_scripts_and_latin_non_english() -> None:
    assert detect_language("こんにちは、元気ですか") == "other"
    assert detect_language("Hola, me encanta este producto") == "other"
    assert detect_language("Ich bin in Berlin und das ist gut") == "other"


def test_no_letters_falls_back_to_declared_language() -> None:
    assert detect_language("👍👍", "ko-KR") == "ko"
    assert detect_language("10/10", "en_US") == "en"
    assert detect_language("👍👍", "ja") == "none"
    assert detect_language("^^", None) == "none"


def test_events_without_text_have_no_language() -> None:
    """Likes, follows and clicks are not "other": that would make it the largest language."""
    for text in (None, "", "   "):
        assert detect_language(text) == "none"
        assert detect_language(text, "ko-KR") == "none"  # a declared tag does not give a like a language


def test_batch_matches_single() -> None:
    texts = ["좋아요", "great", None]
    assert detect_languages(texts, ["ko", None, "en"]) == ["ko", "en", "none"]


def test_enriched_events_without_text_have_no_language() -> None:
    from services.enrich.processor import enrich_records
    from tests.factories import make_social_event

    like = make_social_event(event_type="like", text=None, lang="ko")
    comment = make_social_event(event_type="comment", text="Where is my refund? Still waiting.")
    out = enrich_records([like, comment])
    assert [r["language"] for r in out] == ["none", "en"]


@given(st.text(max_size=200), st.one_of(st.none(), st.sampled_from(["ko", "en", "fr", "ko-KR"])))
def test_always_one_of_four(text: str, declared: str | None) -> None:
    assert detect_language(text, declared) in LANGUAGES


def _full_scan(text: str | None, declared: str | None = None) -> str:
    """The rule without shortcuts: every text's letters counted per script (the ASCII path and the
    skipped link/handle substitution must give exactly this)."""
    from services.enrich import language as L

    if not text or not text.strip():
        return "none"
    cleaned = L._NOISE.sub(" ", text)
    letters = len(L._LETTER.findall(cleaned))
    if letters:
        if len(L._HANGUL.findall(cleaned)) / letters >= 0.3:
            return "ko"
        if len(L._LATIN.findall(cleaned)) / letters >= 0.6:
            words = [w.lower().replace("'", "") for w in L._WORD.findall(cleaned)]
            hits = sum(w in L._EN_WORDS for w in words)
            if hits and hits / len(words) >= 0.25:
                return "en"
            if not L._NON_ASCII_LATIN.search(cleaned) and len(words) <= 3:
                return "en"
        return "other"
    if declared:
        base = declared.lower().split("-")[0].split("_")[0]
        if base in ("ko", "en"):
            return base
    return "none"


_PIECES = [*"abcKXYZ'@#:/. !?1", "the ", "you ", "http://", "é", "좋", "ㅋ", "\u212a", "İ"]
_MIXED = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@given(st.one_of(_MIXED, st.text(max_size=60)), st.one_of(st.none(), st.sampled_from(["ko", "en-US"])))
def test_shortcuts_agree_with_the_full_scan(text: str, declared: str | None) -> None:
    assert detect_language(text, declared) == _full_scan(text, declared)


def test_shortcuts_on_edge_cases() -> None:
    for text in (
        "K is",
        "\u212a is the",
        "İt is the",
        "@you #the",
        "see http://x.co",
        "café au lait",
        "ok 좋아",
    ):
        assert detect_language(text) == _full_scan(text)


def test_hangul_share_shortcut_on_the_boundary() -> None:
    """Korean by Hangul share of all characters (no letter count) agrees with the share of letters,
    around 0.3 on both sides: k Hangul, m Latin letters, p spaces or digits."""
    texts = [
        "좋" * k + "a" * m + filler * p
        for k in range(0, 5)
        for m in range(0, 12)
        for p in range(0, 6)
        for filler in (" ", "1", "!")
    ]
    assert {detect_language(t) for t in texts} >= {"ko", "en", "none"}
    for text in texts:
        assert detect_language(text) == _full_scan(text), text
    for text in ("ㅋㅋㅋ", "ㅋ abc def", "가 abcdefghij", "½² 좋아", "좋아요!!! 👍👍👍👍👍👍👍"):
        assert detect_language(text) == _full_scan(text), text
