"""The documented analyst queries, shipped as package data (``queries.sql``).

``docs/analysts.md`` is the single source: every ``### Qn: title`` heading followed by a ```` ```sql ````
block is a query. ``queries.sql`` is generated from it (``python -m services.analytics.queries
--from-doc docs/analysts.md > services/analytics/queries.sql``; a unit test fails when the two
differ), so the installed package needs no document. ``engage report`` runs these same queries and a
test runs every one of them against a simulated day, so what analysts copy from the document is what
is tested and charted.
Queries take ClickHouse parameters (``{brand:String}``, ``{since:DateTime64(3, 'UTC')}``, …),
bound server-side, so values are never pasted into SQL.

``python -m services.analytics.queries Q4 --param brand=cafe-lumi --param since=... --param until=...``
runs one of them against ``ENGAGE_CLICKHOUSE_DSN`` (through the chDB owner when the pipeline runs).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

SQL_FILE = "queries.sql"
_HEADING = re.compile(r"^### (Q\d+): (.+?)\s*$", re.MULTILINE)
_SQL_HEADING = re.compile(r"^-- (Q\d+): (.+?)\s*$", re.MULTILINE)
_SQL_PREAMBLE = (
    "-- The analyst queries of docs/analysts.md, generated from it; edit the document, then run\n"
    "-- python -m services.analytics.queries --from-doc docs/analysts.md > services/analytics/queries.sql\n"
)
_SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.MULTILINE | re.DOTALL)
_PARAM = re.compile(r"\{(\w+):([^}]+)\}")


@dataclass(frozen=True)
class Query:
    id: str
    title: str
    sql: str

    @property
    def parameters(self) -> dict[str, str]:
        """Parameter name → ClickHouse type, as written in the SQL."""
        return {m.group(1): m.group(2).strip() for m in _PARAM.finditer(self.sql)}

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``values`` this query uses; a missing one is an error, not a silent NULL."""
        missing = [p for p in self.parameters if p not in values]
        if missing:
            raise ValueError(f"{self.id} needs parameter(s) {', '.join(missing)}")
        return {p: values[p] for p in self.parameters}


def from_document(text: str, name: str = "analysts.md") -> dict[str, Query]:
    """Every query of the analysts' document by id (``Q1``…), in document order."""
    headings = list(_HEADING.finditer(text))
    out: dict[str, Query] = {}
    for i, h in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        block = _SQL_BLOCK.search(text, h.end(), end)
        if block is None:
            raise ValueError(f"{name}: {h.group(1)} has no ```sql block")
        if h.group(1) in out:
            raise ValueError(f"{name}: {h.group(1)} is documented twice")
        out[h.group(1)] = Query(h.group(1), h.group(2), block.group(1).strip())
    return out


def to_sql_file(documented: Mapping[str, Query]) -> str:
    """The package-data form: each query under a ``-- Qn: title`` line."""
    parts = [_SQL_PREAMBLE]
    parts.extend(f"\n-- {q.id}: {q.title}\n{q.sql}\n" for q in documented.values())
    return "".join(parts)


def from_sql_file(text: str) -> dict[str, Query]:
    """The inverse of :func:`to_sql_file`."""
    headings = list(_SQL_HEADING.finditer(text))
    out: dict[str, Query] = {}
    for i, h in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        out[h.group(1)] = Query(h.group(1), h.group(2), text[h.end() : end].strip())
    return out


def load(path: Path | None = None) -> dict[str, Query]:
    """The documented queries by id (``Q1``…), in document order: from the package, or from ``path``
    (an ``.md`` document or a generated ``.sql`` file)."""
    if path is None:
        return from_sql_file(files(__package__ or "services.analytics").joinpath(SQL_FILE).read_text("utf-8"))
    text = path.read_text(encoding="utf-8")
    return from_document(text, path.name) if path.suffix == ".md" else from_sql_file(text)


def main(argv: list[str] | None = None) -> int:
    import argparse

    import orjson

    from services.common.query import QueryError, run_query
    from services.common.settings import CommonSettings

    parser = argparse.ArgumentParser(description="Run a query documented in docs/analysts.md.")
    parser.add_argument("query", nargs="?", help="query id, e.g. Q4 (or 'list')")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--from-doc", type=Path, metavar="ANALYSTS_MD", help=f"print {SQL_FILE} generated from the document"
    )
    args = parser.parse_args(argv)
    if args.from_doc is not None:
        sys.stdout.write(to_sql_file(load(args.from_doc)))
        return 0
    if args.query is None:
        parser.error("a query id (or 'list') is needed")
    queries = load()
    if args.query == "list":
        for q in queries.values():
            print(f"{q.id}: {q.title}  ({', '.join(q.parameters)})")
        return 0
    if args.query not in queries:
        print(f"error: no {args.query} among the documented queries; try 'list'", file=sys.stderr)
        return 1
    query = queries[args.query]
    values = dict(p.split("=", 1) for p in args.param if "=" in p)
    try:
        columns, rows = run_query(CommonSettings().clickhouse_dsn, query.sql, query.bind(values))
    except (QueryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for row in rows:
        print(orjson.dumps(dict(zip(columns, row, strict=True)), default=str).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
