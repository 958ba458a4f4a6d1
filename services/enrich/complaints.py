"""Complaint cue lexicon (English and Korean, in ``lexicons/complaint_cues.toml``) and the rule flag on it.

The enrich stage's flag is the learned model of :mod:`services.enrich.complaint_model`; it uses this
module's cue scanner as features (counts of strong, weak, negated, resolved, sarcasm and laughter
cues, a brand-side target, an address) and its cue matches as the readable reasons of a flag.
:func:`is_complaint` is the earlier rule flag, kept as the baseline ``make eval-complaints`` reports
beside the model (on English tweets to brands it catches ~57 % of complaints at ~0.9 precision).

A complaint is a negative message a customer directs at the brand: reporting a problem (broken, not
working, outage, late or wrong delivery, rude staff, hygiene), asking for help with one, demanding a
refund, cancellation or compensation, or threatening to leave. Praise, plain questions, chatter
(negative or not), brand posts and replies, and events without text are not complaints.

How a text is read:

* cues are matched left to right, leftmost first, without overlaps (as ``finditer`` over one big
  alternation would, see :class:`_Scanner`); at one position, *negated* and *resolved* forms are
  tried before the problem cues, so "no problem", "zero complaints", "고장 한 번 없이" or "never
  disappoints" consume the words a problem cue would otherwise match (cheap negation);
* *strong* cues are problem reports and demands that are complaints on their own ("charged twice",
  "not working", "환불해 주세요", "먹통", "다시는 안 가");
* *weak* cues are negative evaluations ("disappointed", "최악", "why is") that also occur in
  chatter ("monday is the worst"); they count only when the text names a target on the brand side
  (you, your app, the order, 고객센터, 직원...) and the sentiment model agrees (or, without a score,
  when two of them occur);
* *resolved* forms ("fixed my issue", "환불 처리해 주셔서 감사", "정시 출발") cancel one strong cue
  each: a customer reporting a solved problem is praising, not complaining;
* *sarcasm* markers ("great job", "love how", "잘하는 짓") next to a strong cue make the sentiment
  score untrustworthy (models read sarcasm as positive), so it is ignored;
* laughter ("lol", "😂", "ㅋㅋ") silences weak cues: "worst morning ever 😂" is not a grievance;
* with no cue at all, a very negative score on a message that addresses the brand ("@brand",
  "you") still counts: it is a complaint in words the lexicon does not know.

Which events can be complaints: comments, replies, mentions and direct messages — the channels a
customer uses to reach the brand. A post or share (a customer's own timeline) counts only when it
addresses the brand (an @handle, "you/your", a Korean request form like "해 주세요") and carries a
strong cue: "PSA, their app is broken again" warns followers, it does not ask the brand for anything.
Brand accounts (``is_brand``) never complain, whatever their apology replies say about refunds.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import re
import tomllib
from collections.abc import Sequence
from typing import Any

DIRECTED_EVENT_TYPES = frozenset({"comment", "reply", "mention", "message"})
ADDRESSED_EVENT_TYPES = frozenset({"post", "share"})  # only with an address to the brand

# A strong cue holds unless the sentiment model is clearly positive (and no sarcasm marker).
STRONG_MAX_SCORE = 0.6
# Weak cues need the model to call the text negative; two weak cues tolerate a neutral score.
WEAK_MAX_SCORE = -0.25
TWO_WEAK_MAX_SCORE = 0.2
# Without any cue, a message addressed to the brand needs a very negative score.
ADDRESSED_NEGATIVE_MAX_SCORE = -0.6

# The cue lexicon is data (``lexicons/complaint_cues.toml``, package data): regexes per kind and
# language, with shared fragments written ``{{NAME}}``.
_LEXICON_FILE = "complaint_cues.toml"


def _load_lexicon() -> dict[str, dict[str, Any]]:
    raw = tomllib.loads(
        importlib.resources.files("services.enrich").joinpath("lexicons", _LEXICON_FILE).read_text("utf-8")
    )
    fragments: dict[str, str] = raw.pop("fragments")

    def expand(value: Any) -> Any:
        if isinstance(value, list):
            return tuple(expand(v) for v in value)
        for name, fragment in fragments.items():
            value = value.replace("{{" + name + "}}", fragment)
        return value

    return {section: {key: expand(v) for key, v in entries.items()} for section, entries in raw.items()}


_LEXICON = _load_lexicon()
_EN, _KO = _LEXICON["english"], _LEXICON["korean"]
_EN_NEGATED, _EN_RESOLVED, _EN_SARCASM = _EN["negated"], _EN["resolved"], _EN["sarcasm"]
_EN_HUMOUR, _EN_STRONG, _EN_WEAK = _EN["humour"], _EN["strong"], _EN["weak"]
_EN_TARGET: str = _EN["target_reference"]
_KO_NEGATED, _KO_RESOLVED, _KO_SARCASM = _KO["negated"], _KO["resolved"], _KO["sarcasm"]
_KO_STRONG, _KO_WEAK = _KO["strong"], _KO["weak"]
_KO_TARGET: str = _KO["target"]
_HUMOUR: str = _LEXICON["shared"]["humour"]
# Who a post or share talks to: an @handle, the second person, or a Korean request/imperative form.
_ADDRESS_REFERENCE: str = _LEXICON["shared"]["address_reference"]


KINDS = ("neg", "res", "sarc", "lol", "strong", "weak")  # tie-break order at one text position


def _cues(english: bool, korean: bool) -> list[tuple[str, str]]:
    """(kind, regex) of every cue, in priority order; English cues are whole words."""
    english_cues = (_EN_NEGATED, _EN_RESOLVED, _EN_SARCASM, _EN_HUMOUR, _EN_STRONG, _EN_WEAK)
    korean_cues = (_KO_NEGATED, _KO_RESOLVED, _KO_SARCASM, (), _KO_STRONG, _KO_WEAK)
    cues: list[tuple[str, str]] = []
    for kind, en, ko in zip(KINDS, english_cues, korean_cues, strict=True):
        if english:
            cues += [(kind, rf"\b(?:{fragment})\b") for fragment in en]
        if korean:
            cues += [(kind, fragment) for fragment in ko]
        if kind == "lol":
            cues.append((kind, _HUMOUR))
    return cues


def _alternation(cues: Sequence[tuple[str, str]]) -> str:
    by_kind: dict[str, list[str]] = {}
    for kind, regex in cues:
        by_kind.setdefault(kind, []).append(regex)
    return "|".join(f"(?P<{kind}>{'|'.join(regexes)})" for kind, regexes in by_kind.items())


@functools.cache  # the English cues recur in two scanners
def _prefixes(regex: str, size: int) -> tuple[set[str], bool] | None:
    """The strings of up to ``size`` characters a match of ``regex`` can begin with (shorter ones:
    whole matches), and whether it starts with ``\\b``; None when they cannot be worked out.

    Reads the parse tree of the standard library's regex parser (private, hence imported by name).
    Zero-width assertions are skipped, which can only add prefixes, never lose one.
    """
    try:
        parser = importlib.import_module("re._parser")
        c = importlib.import_module("re._constants")
        tree = list(parser.parse(regex))
    except (ImportError, AttributeError, re.error):
        return None

    def charset(items: Any) -> set[str] | None:
        out: set[str] = set()
        for op, av in items:
            if op is c.LITERAL:
                out.add(chr(av))
            elif op is c.RANGE and av[1] - av[0] < 256:
                out.update(chr(code) for code in range(av[0], av[1] + 1))
            else:
                return None  # negated sets, categories (\\w), wide ranges
        return out

    def extend(heads: set[str], items: Any) -> set[str] | None:
        done = {h for h in heads if len(h) >= size}
        for op, av in items:
            open_heads = heads - done
            if not open_heads:
                break
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            if op is c.LITERAL:
                tails: set[str] | None = {chr(av)}
            elif op is c.IN:
                tails = charset(av)
            elif op is c.SUBPATTERN:
                tails = extend({""}, av[-1])
            elif op is c.BRANCH:
                tails = set()
                for alt in av[1]:
                    sub_tails = extend({""}, alt)
                    if sub_tails is None:
                        return None
                    tails |= sub_tails
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                lo, hi, sub = av
                tails, current = set(), {""}
                for i in range(min(hi, lo + size) + 1):
                    if i >= lo:
                        tails |= current
                    grown = extend(current, sub)
                    if grown is None:
                        tails = None
                        break
                    current = grown
            else:
                return None
            if tails is None:
                return None
            heads = done | {(h + t)[:size] for h in open_heads for t in tails}
            done = {h for h in heads if len(h) >= size}
        return heads

    found = extend({""}, tree)
    if found is None or "" in found:
        return None
    anchored = bool(tree) and tree[0][0] is c.AT and tree[0][1] is c.AT_BOUNDARY
    return found, anchored


class _Scanner:
    """Finds the cues of one lexicon in a text, leftmost first, without overlaps.

    Equivalent to ``finditer`` over one alternation of all cues (``reference``), but fast: a Python
    ``re`` alternation tries every alternative at every position, so hundreds of cues cost tens of
    microseconds per text. Here two *finder* patterns locate, in C, the positions where some cue can
    start, and only the few cues that can begin with the next three (else two, else one) characters
    are tried there:

    * word starts (English cues): a non-word character followed by the first five characters of
      some cue (fewer where a cue's character classes would give more than eight such heads), as a
      trie (the text is scanned with a space in front, so the character before a candidate sits
      where the candidate is in the text itself);
    * anywhere (Korean cues, emoji, "as 요청"): one of their first characters followed by a possible
      second one (for ASCII ones, their own second characters: every "a" of an English text is no
      candidate).

    Both patterns begin with a character class, so ``re`` skips in C to the characters that can
    start a match instead of trying the pattern at every position. Cues whose start cannot be
    worked out are tried by first character; if even that fails for one cue, the reference scan is
    used. ``tests/unit/test_complaint_equivalence.py`` holds it to the reference.
    """

    def __init__(self, cues: Sequence[tuple[str, str]], word_start_head: int = 5) -> None:
        self.cues = tuple(cues)
        self.word_start_head = word_start_head
        self._finders: tuple[tuple[re.Pattern[str], str], ...] = ()
        self._ascii_finders: tuple[tuple[re.Pattern[str], str], ...] = ()  # those an ASCII text can meet
        # the cues that can begin with the next three / two / one characters (one pattern each)
        self._by_three: dict[str, re.Pattern[str]] = {}
        self._by_two: dict[str, re.Pattern[str]] = {}
        self._by_one: dict[str, re.Pattern[str]] = {}
        # per two-character head: the three-character heads that extend it, and what a text that
        # continues otherwise falls back to (the two-character head's cues, else the first character's)
        self._by_pair: dict[str, tuple[dict[str, re.Pattern[str]], re.Pattern[str] | None]] = {}
        # cues by their first three characters (shorter: the whole match, or all that could be
        # worked out; either way a prefix of the text where the cue matches)
        by_head: dict[str, list[int]] = {}
        word_start: set[str] = set()  # up to word_start_head first characters of cues at a word start
        anywhere: dict[str, set[str] | None] = {}  # other cues: first -> second characters (None: any)
        for i, (_, regex) in enumerate(cues):
            found = _prefixes(regex, 2) or _prefixes(regex, 1)
            if found is None:
                return  # the reference scan it is
            heads, anchored = found
            longer = (_prefixes(regex, 3) or found)[0]
            finder_heads = longer
            for size in range(self.word_start_head, 3, -1) if anchored else ():
                wider = _prefixes(regex, size)
                if wider is not None and len(wider[0]) <= _MAX_FINDER_HEADS:
                    finder_heads = wider[0]
                    break
            for head in longer:
                by_head.setdefault(head, []).append(i)
            for head in heads:
                # a word start before a non-word character follows a word character: no candidate
                # for the word-start finder, so such (rare) cues count as starting anywhere
                if anchored and _WORD_CHAR.match(head):
                    word_start.update(h for h in finder_heads if h[0] == head[0])
                    continue
                if len(head) == 1:
                    anywhere[head] = None
                elif (seconds := anywhere.setdefault(head[0], set())) is not None:
                    seconds.add(head[1])
        patterns: dict[tuple[int, ...], re.Pattern[str]] = {}

        def dispatch(*keys: str) -> re.Pattern[str]:
            indexes = tuple(sorted({i for key in keys for i in by_head.get(key, ())}))
            if indexes not in patterns:
                patterns[indexes] = self._compile(list(indexes))
            return patterns[indexes]

        self._by_three = {k: dispatch(k, k[:2], k[0]) for k in by_head if len(k) == 3}
        self._by_two = {k: dispatch(k, k[0]) for k in by_head if len(k) == 2}
        self._by_one = {k: dispatch(k) for k in by_head if len(k) == 1}
        extending: dict[str, dict[str, re.Pattern[str]]] = {}
        for k, pattern in self._by_three.items():
            extending.setdefault(k[:2], {})[k] = pattern
        for k in self._by_two:
            extending.setdefault(k, {})
        self._by_pair = {
            k: (longer, self._by_two.get(k) or self._by_one.get(k[0])) for k, longer in extending.items()
        }
        finders = []
        ascii_finders = []
        if word_start:
            finders.append((re.compile(rf"\W(?={_trie(word_start)})"), " "))
            ascii_finders.append(finders[-1])
        if anywhere:
            # Korean and emoji first characters: one class, then (for those that start two-character
            # heads) a second character that some head has; ASCII ones: their own second characters
            wide = {ch for ch in anywhere if not ch.isascii()}
            alone = {ch for ch in wide if anywhere[ch] is None}
            paired = wide - alone
            seconds = set().union(*(anywhere[ch] or set() for ch in paired)) - {" "}
            # a space is the most common second character of all: only the first characters of heads
            # that go on with one ("안 돼", "못 먹") make "X " a candidate
            spaced = {ch for ch in paired if " " in (anywhere[ch] or ())}
            checks = [f"(?<=[{_char_class(alone)}])"] if alone else []
            if seconds:
                checks.append(f"(?<=[{_char_class(paired)}])(?=[{_char_class(seconds)}])")
            if spaced:
                checks.append(f"(?<=[{_char_class(spaced)}])(?= )")
            checks += [
                f"(?<={re.escape(ch)})" + (f"(?=[{_char_class(sec)}])" if (sec := anywhere[ch]) else "")
                for ch in sorted(anywhere)
                if ch.isascii()
            ]
            finders.append((re.compile(f"[{_char_class(set(anywhere))}](?:{'|'.join(checks)})"), ""))
            if any(ch.isascii() for ch in anywhere):  # else it needs a non-ASCII first character
                ascii_finders.append(finders[-1])
        self._finders = tuple(finders)
        self._ascii_finders = tuple(ascii_finders)

    def _compile(self, indexes: list[int]) -> re.Pattern[str]:
        return re.compile(_alternation([self.cues[i] for i in sorted(set(indexes))]))

    @functools.cached_property
    def reference(self) -> re.Pattern[str]:
        return re.compile(_alternation(self.cues))

    @property
    def fast(self) -> bool:
        return bool(self._finders)

    def kinds(self, text: str) -> list[str]:
        """Kinds of the cues found in ``text`` (lower-cased), in text order."""
        return [kind for kind, _, _ in self.matches(text)]

    def candidates(self, text: str) -> list[int]:
        """Positions, in order, where some cue can start (a superset of where one does)."""
        finders = self._ascii_finders if text.isascii() else self._finders
        found = [m.start() for finder, pad in finders for m in finder.finditer(pad + text)]
        if len(finders) > 1:
            found.sort()
        return found

    def matches(self, text: str) -> list[tuple[str, int, int]]:
        """(kind, start, end) of the cues found in ``text`` (lower-cased), in text order.

        At each candidate, the cues that can begin with the next three characters are tried, else
        those of the next two, else those of the next one: one dictionary look-up for the next two
        characters (where most candidates stop), one more for the third.
        """
        if not self._finders:
            return [(m.lastgroup or "", m.start(), m.end()) for m in self.reference.finditer(text)]
        found: list[tuple[str, int, int]] = []
        end = 0
        by_pair, by_one = self._by_pair, self._by_one
        for pos in self.candidates(text):
            if pos < end:
                continue
            entry = by_pair.get(text[pos : pos + 2])
            pattern = (
                by_one.get(text[pos]) if entry is None else (entry[0].get(text[pos : pos + 3]) or entry[1])
            )
            if pattern is not None and (m := pattern.match(text, pos)) is not None:
                found.append((m.lastgroup or "", pos, m.end()))
                end = m.end()
        return found


_WORD_CHAR = re.compile(r"\w")
_MAX_FINDER_HEADS = 8  # per cue: wider heads stop there (a class like [a-z] multiplies them)


def _char_class(chars: set[str]) -> str:
    return "".join(re.escape(ch) for ch in sorted(chars))


def _trie(heads: set[str]) -> str:
    """An alternation that matches where one of ``heads`` begins, as a trie (``t(?:h[ar]|o)|u``):
    each level begins with a literal or a class, which ``re`` rejects at once."""
    if "" in heads:
        return ""  # a whole head has matched; anything may follow
    rests: dict[str, set[str]] = {}
    for head in heads:
        rests.setdefault(head[0], set()).add(head[1:])
    ends = {ch for ch, rest in rests.items() if "" in rest}
    parts = [f"[{_char_class(ends)}]"] if ends else []
    parts += [f"{re.escape(ch)}(?:{_trie(rest)})" for ch, rest in sorted(rests.items()) if ch not in ends]
    return "|".join(parts)


# English texts skip the Korean lexicon; Korean texts keep the English one (code-mixing: "앱 login
# error", "refund 해주세요"); "other" gets both, so a misdetected language still finds its cues.
_SCAN_EN = _Scanner(_cues(english=True, korean=False))
_SCAN_ALL = _Scanner(_cues(english=True, korean=True))


def _whole_words(words: Sequence[str]) -> str:
    """``\\b(?:w1|w2|...)\\b`` for presence tests, written so that ``re`` can skip to candidates.

    Each word (a regex that begins with a letter) becomes ``x(?<=\\bx)(?:rest|...)\\b`` grouped by
    its first letter ``x``: every alternative of a pattern built from these and from Korean words
    then begins with a literal, so a search jumps to those characters in C instead of trying
    ``\\b`` at every position. It finds a match exactly where the plain form does.
    """
    rests: dict[str, list[str]] = {}
    for word in words:
        rests.setdefault(word[0], []).append(word[1:])
    return "|".join(
        rf"{re.escape(ch)}(?<=\b{re.escape(ch)})(?:{'|'.join(rest)})\b" for ch, rest in rests.items()
    )


# Who a post or share talks to, and whether a text names something on the brand side: only ever
# tested for presence (``search(...) is not None``), in the literal-first form of the reference.
_YOU: tuple[str, ...] = _EN["you"]
_EN_TARGET_WORDS = (*_YOU, *_EN["target_words"])
_KO_REQUEST: str = _KO["request"]
_ADDRESS = re.compile(rf"@\w|{_whole_words(_YOU)}|고객센터|당신|너네|니네|{_KO_REQUEST}")
_TARGET_EN = re.compile(rf"@\w|{_whole_words(_EN_TARGET_WORDS)}")
_TARGET_ALL = re.compile(rf"{_TARGET_EN.pattern}|{_KO_TARGET}")


def _normalise(text: str) -> str:
    text = text.lower()
    return text.replace("’", "'") if "’" in text else text


def is_complaint(
    text: str | None,
    event_type: str,
    is_brand: bool = False,
    sentiment_score: float | None = None,
    language: str = "other",
) -> bool:
    """One event: True when a customer directs a complaint at the brand (rules in the module docstring).

    ``sentiment_score`` is the sentiment model's score in [-1, 1] (None when it did not run);
    ``language`` is the enrich stage's "ko"/"en"/"other".
    """
    if is_brand or not text:
        return False
    addressed_only = event_type in ADDRESSED_EVENT_TYPES
    if not addressed_only and event_type not in DIRECTED_EVENT_TYPES:
        return False
    t = _normalise(text)
    scan, target = (_SCAN_EN, _TARGET_EN) if language == "en" else (_SCAN_ALL, _TARGET_ALL)
    strong = weak = resolved = 0
    sarcasm = humour = False
    for kind in scan.kinds(t):
        if kind == "strong":
            strong += 1
        elif kind == "weak":
            weak += 1
        elif kind == "res":
            resolved += 1
        elif kind == "sarc":
            sarcasm = True
        elif kind == "lol":
            humour = True
    strong -= resolved
    if strong > 0:
        if addressed_only and _ADDRESS.search(t) is None:
            return False  # a post or share that does not talk to the brand warns followers instead
        # A clearly positive model overrules one unsarcastic strong cue ("no worries, the fix works").
        return sentiment_score is None or strong >= 2 or sarcasm or sentiment_score < STRONG_MAX_SCORE
    # Without a strong cue: only directed events, nothing laughed off or reported as resolved.
    if addressed_only or humour or resolved:
        return False
    # Weak cues must be about something on the brand's side and confirmed by the model (or, without a
    # score, by a second weak cue).
    if weak and target.search(t) is not None:
        if sentiment_score is None:
            return weak >= 2
        if sentiment_score <= WEAK_MAX_SCORE or (weak >= 2 and sentiment_score <= TWO_WEAK_MAX_SCORE):
            return True
    # No cue the lexicon knows: a very negative message spoken to the brand ("@brand", "you") is a
    # complaint in words we did not list; very negative chatter about Mondays does not talk to anyone.
    return (
        sentiment_score is not None
        and sentiment_score <= ADDRESSED_NEGATIVE_MAX_SCORE
        and _ADDRESS.search(t) is not None
    )


def complaint_flags(
    texts: Sequence[str | None],
    event_types: Sequence[str],
    is_brand: Sequence[bool],
    sentiment_scores: Sequence[float | None],
    languages: Sequence[str],
) -> list[bool]:
    """Batch form used by the enrich agent: one flag per event, inputs aligned by position."""
    n = len(texts)
    if not (len(event_types) == len(is_brand) == len(sentiment_scores) == len(languages) == n):
        raise ValueError("texts, event_types, is_brand, sentiment_scores and languages must align")
    return [
        is_complaint(text, kind, brand, score, lang)
        for text, kind, brand, score, lang in zip(
            texts, event_types, is_brand, sentiment_scores, languages, strict=True
        )
    ]
