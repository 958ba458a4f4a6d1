"""Language detection for social texts: Korean, English, other, or none.

Social posts are short and mix scripts (Korean posts often carry English brand names, hashtags and
emoji), so the rule is script-based on letters only: Hangul share decides Korean; Latin text is
English when it uses English function words or is plain ASCII words; text in another script or
another Latin language is "other". Likes, follows and clicks carry no text and so have no language:
"none" (not "other", which would make "other" the largest language of any brand). A model is not
worth its latency here — the script signal is near-perfect for ko/en.
"""

from __future__ import annotations

import re

KO, EN, OTHER, NONE = "ko", "en", "other", "none"
LANGUAGES = (KO, EN, OTHER, NONE)

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
_NOISE = re.compile(r"https?://\S+|[@#][\w.]+")
_WORD = re.compile(r"[A-Za-z']+")
_NON_ASCII_LATIN = re.compile(r"[\u00c0-\u024f]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")

# Frequent English function and chat words; a hit is strong evidence for English over other
# Latin-script languages.
_EN_WORDS = frozenset(
    [
        "about",
        "after",
        "again",
        "all",
        "also",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "but",
        "by",
        "can",
        "cant",
        "could",
        "did",
        "didnt",
        "do",
        "does",
        "dont",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "he",
        "her",
        "here",
        "him",
        "his",
        "how",
        "i",
        "if",
        "im",
        "into",
        "is",
        "it",
        "its",
        "ive",
        "just",
        "know",
        "like",
        "love",
        "more",
        "my",
        "not",
        "now",
        "of",
        "on",
        "one",
        "only",
        "or",
        "our",
        "out",
        "please",
        "really",
        "refund",
        "she",
        "some",
        "still",
        "than",
        "thank",
        "thanks",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "they",
        "this",
        "to",
        "too",
        "us",
        "very",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "great",
        "good",
        "bad",
        "worst",
        "best",
        "never",
        "ever",
        "again",
        "order",
        "service",
        "help",
        "wtf",
        "lol",
        "omg",
    ]
)


def detect_language(text: str | None, declared: str | None = None) -> str:
    """Return "ko", "en" or "other" for a text, "none" for an event without text.

    A text without letters (emoji, digits) falls back to the platform's declared language when that
    is Korean or English, else it has no language either.
    """
    if not text or not text.strip():
        return NONE
    # links, @handles and #tags need "://", "@" or "#": most texts have none, so skip the substitution
    cleaned = _NOISE.sub(" ", text) if ("@" in text or "#" in text or "://" in text) else text
    if cleaned.isascii():
        # Pure ASCII cannot be Korean and its letters are all Latin: no per-character scan needed.
        if _ASCII_LETTER.search(cleaned) is not None:
            return _english_or_other(cleaned, ascii_only=True)
    else:
        hangul = len(_HANGUL.findall(cleaned))
        # Hangul is a subset of the letters, and the letters of the characters: a text whose Hangul
        # share of all characters reaches 0.3 reaches it among the letters (float division is
        # monotone in the divisor), so most Korean texts skip counting their letters.
        if hangul and hangul / len(cleaned) >= 0.3:
            return KO
        letters = len(_LETTER.findall(cleaned))
        if letters:
            if hangul / letters >= 0.3:
                return KO
            latin = len(_LATIN.findall(cleaned))
            if latin / letters >= 0.6:
                return _english_or_other(cleaned, ascii_only=_NON_ASCII_LATIN.search(cleaned) is None)
            return OTHER
    if declared:
        base = declared.lower().split("-")[0].split("_")[0]
        if base in (KO, EN):
            return base
    return NONE


def _english_or_other(cleaned: str, ascii_only: bool) -> str:
    """A mostly Latin-script text: English when a quarter of its words are English function or chat
    words, or when it is a short post without accented letters."""
    if cleaned.isascii():  # lower-casing first finds the same words ("K" U+212A would not)
        words = _WORD.findall(cleaned.lower())
    else:
        words = [w.lower() for w in _WORD.findall(cleaned)]
    if "'" in cleaned:
        words = [w.replace("'", "") for w in words]
    hits = sum(map(_EN_WORDS.__contains__, words))
    if hits and hits / len(words) >= 0.25:
        return EN
    if ascii_only and len(words) <= 3:
        return EN  # short ASCII-only posts ("Nice!", "wow amazing") read as English
    return OTHER


def detect_languages(texts: list[str | None], declared: list[str | None] | None = None) -> list[str]:
    """Batch form used by the enrich agent."""
    if declared is None:
        return [detect_language(t) for t in texts]
    return [detect_language(t, d) for t, d in zip(texts, declared, strict=True)]
