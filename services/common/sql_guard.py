"""What ad-hoc SQL may do: read this database's tables, and nothing else.

Analysts' SQL (``/query`` on the loader worker, ``engage query``) is checked before it runs, on top of
``readonly=1``: read-only mode refuses writes and DDL but still lets ``SELECT … INTO OUTFILE`` write a
file and table functions such as ``file()``, ``url()`` or ``remote()`` read files and reach the network.

The check never tokenises the caller's text itself, so no quoting or comment trick can hide a clause
from it: ClickHouse's own parser turns the text into its canonical one-line form
(``formatQuerySingleLine``, which parses without executing — the SQL is passed as a string value),
and the rules below are applied to that form, where comments are gone, keywords are words and
string literals use one quoting style:

* one statement, starting with SELECT, WITH, SHOW, DESCRIBE or EXPLAIN (EXPLAIN of a SELECT; SHOW of
  the schema and settings, not of users, grants or other access entities);
* no output clause: ``INTO OUTFILE``, ``FORMAT`` (the endpoint answers JSON), and no ``SETTINGS``
  (limits are the operator's);
* no table function or function that reads files, URLs or other servers: every table function the
  engine knows is refused except a few that generate data or read local tables (``numbers``,
  ``values``, ``merge``, …), plus a fixed list in case the engine's list is not available.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Table functions that only generate rows or read this database's own tables.
SAFE_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "generate_series",
        "generateseries",
        "generaterandom",
        "primes",
        "values",
        "format",  # also the scalar format('{} {}', a, b); the table function parses inline text
        "null",
        "view",
        "merge",
    }
)
# Refused even when the engine's list of table functions cannot be read (names compared lowercased).
ALWAYS_DENIED_FUNCTIONS = frozenset(
    {
        "file",
        "filecluster",
        "filesystem",
        "url",
        "urlcluster",
        "s3",
        "s3cluster",
        "gcs",
        "oss",
        "cosn",
        "hdfs",
        "hdfscluster",
        "azureblobstorage",
        "azureblobstoragecluster",
        "remote",
        "remotesecure",
        "cluster",
        "clusterallreplicas",
        "mysql",
        "postgresql",
        "sqlite",
        "mongodb",
        "redis",
        "jdbc",
        "odbc",
        "executable",
        "python",
        "eval",
        "input",
        "dictionary",
        "catboostevaluate",
    }
)
READ_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN")
# SHOW of the schema and the session, not of users, roles, grants, quotas or policies (access control).
SHOW_WHAT = frozenset(
    {
        "TABLES",
        "DATABASES",
        "COLUMNS",
        "DICTIONARIES",
        "FUNCTIONS",
        "INDEXES",
        "KEYS",
        "ENGINES",
        "SETTINGS",
        "SETTING",
        "CHANGED",
        "PROCESSLIST",
        "MERGES",
        "FULL",
        "EXTENDED",
        "TEMPORARY",
    }
)
SHOW_CREATE_WHAT = frozenset({"TABLE", "VIEW", "DICTIONARY", "DATABASE", "TEMPORARY"})
EXPLAIN_KINDS = ("AST", "SYNTAX", "QUERY", "TREE", "PLAN", "PIPELINE", "ESTIMATE")


class QueryRefused(ValueError):
    """The statement is not one /query runs; the message says which rule it broke."""


class QuerySyntaxError(QueryRefused):
    """ClickHouse's parser did not accept the text (or it held more than one statement)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word" (bare identifier or keyword), "quoted" (identifier), "string", "number", "punct"
    text: str


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9](?:[eEpP][+-][0-9]+|[0-9A-Za-z_.])*")


def tokenize(sql: str) -> list[Token]:
    """Tokens of canonical ClickHouse SQL. Quoted strings and identifiers honour backslash escapes and
    doubled quotes; comments are skipped (the canonical form has none, but a guard must not trip)."""
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i) or (c == "#" and sql[i + 1 : i + 2] in (" ", "!")):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif c in "'\"`":
            end = _quoted_end(sql, i)
            tokens.append(Token("string" if c == "'" else "quoted", sql[i + 1 : end - 1]))
            i = end
        elif m := _WORD.match(sql, i):
            tokens.append(Token("word", m.group()))
            i = m.end()
        elif m := _NUMBER.match(sql, i):
            tokens.append(Token("number", m.group()))
            i = m.end()
        else:
            tokens.append(Token("punct", c))
            i += 1
    return tokens


def _quoted_end(sql: str, start: int) -> int:
    quote, i = sql[start], start + 1
    while i < len(sql):
        if sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql[i + 1 : i + 2] == quote:  # '' inside '…'
                i += 2
            else:
                return i + 1
        else:
            i += 1
    raise QueryRefused("unterminated quoted string or identifier")


def _skip_block_comment(sql: str, start: int) -> int:
    depth, i = 0, start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise QueryRefused("unterminated comment")


def denied_functions(table_functions: Iterable[str]) -> frozenset[str]:
    """Lowercased names refused as functions: the engine's table functions but the safe ones, and the
    fixed list."""
    engine = {name.lower() for name in table_functions}
    return frozenset((engine - SAFE_TABLE_FUNCTIONS) | ALWAYS_DENIED_FUNCTIONS)


def check_statement(canonical: str, denied: frozenset[str]) -> None:
    """Raise :class:`QueryRefused` unless ``canonical`` (``formatQuerySingleLine`` output) only reads."""
    tokens = tokenize(canonical)
    words = [t.text.upper() if t.kind == "word" else None for t in tokens]
    if not tokens:
        raise QueryRefused("empty statement")
    if any(t.kind == "punct" and t.text == ";" for t in tokens):
        raise QueryRefused("one statement per request")
    head = _statement_head(tokens, words)
    if head not in READ_STATEMENTS:
        raise QueryRefused(
            f"only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN SELECT statements run here, not {head or '?'}"
        )
    if head == "SHOW":
        what = [*words[1:3], None, None]
        if not (what[0] in SHOW_WHAT or (what[0] == "CREATE" and what[1] in SHOW_CREATE_WHAT)):
            shown = " ".join(w for w in what[:2] if w)
            raise QueryRefused(f"SHOW {shown} is not allowed: SHOW the schema (tables, columns, …) only")
    for i, (token, word) in enumerate(zip(tokens, words, strict=True)):
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        call = following is not None and following.kind == "punct" and following.text == "("
        if word in ("INTO", "OUTFILE"):
            raise QueryRefused("INTO OUTFILE is not allowed: results come back in the response")
        if word == "FORMAT" and not call:
            raise QueryRefused("FORMAT is not allowed: the endpoint answers JSON")
        if word == "SETTINGS" and head != "SHOW":
            raise QueryRefused("SETTINGS is not allowed: query limits are set by the operator")
        if call and token.kind in ("word", "quoted") and token.text.lower() in denied:
            raise QueryRefused(
                f"function {token.text}() is not allowed: queries read this database's tables only "
                "(no files, URLs or other servers)"
            )


def _statement_head(tokens: list[Token], words: list[str | None]) -> str | None:
    """The statement's verb; for EXPLAIN, the verb of the explained statement must be a read too."""
    i = 0
    while i < len(tokens) and tokens[i].kind == "punct" and tokens[i].text == "(":
        i += 1
    head = words[i] if i < len(words) else None
    if head != "EXPLAIN":
        return head
    i += 1
    while i < len(words) and words[i] in EXPLAIN_KINDS:
        i += 1
    # EXPLAIN options: name = value[, name = value …]
    while i + 2 < len(tokens) and tokens[i + 1].text == "=" and tokens[i + 1].kind == "punct":
        i += 3
        if i < len(tokens) and tokens[i].kind == "punct" and tokens[i].text == ",":
            i += 1
    while i < len(tokens) and tokens[i].kind == "punct" and tokens[i].text == "(":
        i += 1
    inner = words[i] if i < len(words) else None
    return "EXPLAIN" if inner in ("SELECT", "WITH") else f"EXPLAIN {inner or ''}".strip()
