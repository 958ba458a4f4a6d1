"""The documented analyst queries, read from ``docs/analysts.md``.

The document is the single source: every ``### Qn: title`` heading followed by a ```` ```sql ````
block is a query. ``engage report`` runs these same queries and a test runs every one of them against
a simulated day, so what analysts copy from the document is what is tested and charted.
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
from pathlib import Path
from typing import Any

from services.common.settings import REPO_ROOT

DOC_PATH = REPO_ROOT / "docs" / "analysts.md"
_HEADING = re.compile(r"^### (Q\d+): (.+?)\s*$", re.MULTILINE)
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


def load(path: Path = DOC_PATH) -> dict[str, Query]:
    """Every documented query by id (``Q1``…), in document order."""
    text = path.read_text(encoding="utf-8")
    headings = list(_HEADING.finditer(text))
    out: dict[str, Query] = {}
    for i, h in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        block = _SQL_BLOCK.search(text, h.end(), end)
        if block is None:
            raise ValueError(f"{path.name}: {h.group(1)} has no ```sql block")
        if h.group(1) in out:
            raise ValueError(f"{path.name}: {h.group(1)} is documented twice")
        out[h.group(1)] = Query(h.group(1), h.group(2), block.group(1).strip())
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    import orjson

    from services.common.query import QueryError, run_query
    from services.common.settings import CommonSettings

    parser = argparse.ArgumentParser(description="Run a query documented in docs/analysts.md.")
    parser.add_argument("query", help="query id, e.g. Q4 (or 'list')")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    queries = load()
    if args.query == "list":
        for q in queries.values():
            print(f"{q.id}: {q.title}  ({', '.join(q.parameters)})")
        return 0
    if args.query not in queries:
        print(f"error: no {args.query} in {DOC_PATH.name}; try 'list'", file=sys.stderr)
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
