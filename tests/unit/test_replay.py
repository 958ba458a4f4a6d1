"""File replay without Kafka: format detection, CSV conversion, line numbering, pacing on a fake clock."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from services.common.events import parse_event
from services.ingest.pacing import RatePacer, SpeedupPacer, occurred_ms
from services.ingest.readers import (
    CSV_VALUE,
    INVALID_JSON,
    PAYLOAD_ERROR,
    CsvValueError,
    InputFormatError,
    Record,
    check_csv_header,
    count_lines,
    csv_records,
    csv_row_to_event,
    detect_format,
    read_csv_header,
    read_records,
)
from tests.factories import META_COMMENT_PAYLOAD

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def event(i: int, **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": f"e{i}",
        "platform": "x",
        "event_type": "comment",
        "brand_id": "cafe-lumi",
        "actor_id": f"a{i}",
        "occurred_at": 1_700_000_000_000 + i * 1000,
    }
    return base | overrides


# --- format detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", "jsonl"),
        ("a.ndjson.gz", "jsonl"),
        ("export.2026-11.JSON", "jsonl"),
        ("a.csv", "csv"),
        ("a.CSV.GZ", "csv"),
    ],
)
def test_format_comes_from_the_suffix_through_gz(name: str, fmt: str) -> None:
    assert detect_format(Path(name)) == fmt


def test_unknown_suffix_needs_format_and_override_wins() -> None:
    with pytest.raises(InputFormatError, match="--format"):
        detect_format(Path("dump.txt.gz"))
    with pytest.raises(InputFormatError, match="--format"):
        detect_format(Path("dump"))
    assert detect_format(Path("dump.txt"), "csv") == "csv"
    assert detect_format(Path("a.csv"), "jsonl") == "jsonl"
    with pytest.raises(InputFormatError, match="xml"):
        detect_format(Path("a.csv"), "xml")


# --- JSONL -----------------------------------------------------------------------------------------


def _write(path: Path, lines: list[bytes], gz: bool = False) -> Path:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_jsonl_lines_keep_physical_numbers_and_from_line_skips(tmp_path: Path) -> None:
    lines = [orjson.dumps(event(1)), b"", b'{"event_id": "broken"', b"   ", orjson.dumps(event(5)), b"[1]"]
    for gz in (False, True):
        path = _write(tmp_path / ("a.jsonl.gz" if gz else "a.jsonl"), lines, gz=gz)
        assert count_lines(path) == 6
        records = list(read_records(path, "jsonl"))
        assert [(r.line, r.end) for r in records] == [(1, 1), (3, 3), (5, 5), (6, 6)]
        bad = records[1].candidates[0]
        assert (bad.reason, bad.line, bad.source_file) == (INVALID_JSON, 3, str(path))
        assert bad.error is not None and bad.error.startswith("invalid JSON")
        assert bad.raw == b'{"event_id": "broken"'
        assert records[2].candidates[0].obj == event(5)
        assert records[3].candidates[0].obj == [1]  # left to parse_event, which names the problem
        assert [r.line for r in read_records(path, "jsonl", from_line=4)] == [5, 6]
        assert [r.line for r in read_records(path, "jsonl", from_line=99)] == []


def test_count_lines_counts_a_last_line_without_newline(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"{}\n{}")
    (tmp_path / "b.jsonl").write_bytes(b"")
    assert count_lines(tmp_path / "a.jsonl") == 2
    assert count_lines(tmp_path / "b.jsonl") == 0


def test_platform_payload_line_expands_to_canonical_events(tmp_path: Path) -> None:
    broken = {"object": "page", "entry": [{"time": 1700000000, "changes": []}]}  # no entry id
    path = _write(tmp_path / "hooks.jsonl", [orjson.dumps(META_COMMENT_PAYLOAD), orjson.dumps(broken)])
    ok, bad = read_records(path, "jsonl")
    [cand] = ok.candidates
    assert cand.line == 1 and cand.reason is None
    record = parse_event(cand.obj, received_at=NOW)
    assert (record["event_id"], record["platform"], record["event_type"]) == ("fb:C1", "facebook", "comment")
    assert (record["brand_id"], record["actor_id"], record["text"]) == ("PAGE1", "U1", "hello")
    assert orjson.loads(cand.raw) == cand.obj  # dead-lettered as the canonical event
    [rejected] = bad.candidates
    assert (rejected.reason, rejected.line) == (PAYLOAD_ERROR, 2)
    assert rejected.error is not None and "entry[0].id" in rejected.error


def test_canonical_line_with_an_object_field_is_not_taken_for_a_payload(tmp_path: Path) -> None:
    line = orjson.dumps(event(1, object="page", entry=[]))
    [record] = read_records(_write(tmp_path / "a.jsonl", [line]), "jsonl")
    assert record.candidates[0].obj["event_id"] == "e1"  # type: ignore[index]


# --- CSV -------------------------------------------------------------------------------------------

HEADER = (
    "event_id,platform,event_type,brand_id,actor_id,is_brand,actor_followers,text,occurred_at,attributes,tier"
)


def _csv(*rows: str) -> list[Record]:
    return list(csv_records(io.StringIO("\n".join([HEADER, *rows]) + "\n", newline=""), "f.csv"))


def test_csv_row_converts_types_nulls_and_extra_columns() -> None:
    [rec] = _csv('e1,x,comment,b1,a1,TRUE,1200,"hi, there",1700000000000,"{""k"": ""v""}",gold')
    [cand] = rec.candidates
    assert cand.obj == {
        "event_id": "e1",
        "platform": "x",
        "event_type": "comment",
        "brand_id": "b1",
        "actor_id": "a1",
        "is_brand": True,
        "actor_followers": 1200,
        "text": "hi, there",
        "occurred_at": 1_700_000_000_000,
        "attributes": {"k": "v"},
        "tier": "gold",
    }
    record = parse_event(cand.obj, received_at=NOW)
    assert record["attributes"] == {"k": "v", "x.tier": "gold"}
    [rec] = _csv("e2,x,like,b1,a1,0,,,2026-11-01T00:00:00Z,,")
    assert rec.candidates[0].obj == {
        "event_id": "e2",
        "platform": "x",
        "event_type": "like",
        "brand_id": "b1",
        "actor_id": "a1",
        "is_brand": False,
        "occurred_at": "2026-11-01T00:00:00Z",
    }
    assert parse_event(rec.candidates[0].obj, received_at=NOW)["actor_followers"] is None


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"is_brand": "yes"}, "is_brand", "true/false/1/0"),
        ({"actor_followers": "1.5k"}, "actor_followers", "integer"),
        ({"attributes": "{nope"}, "attributes", "invalid JSON"),
        ({"attributes": "[1, 2]"}, "attributes", "JSON object"),
    ],
)
def test_csv_value_errors_name_the_column(cells: dict[str, str], column: str, message: str) -> None:
    header = ["event_id", *cells]
    with pytest.raises(CsvValueError, match=message) as info:
        csv_row_to_event(header, ["e1", *cells.values()])
    assert info.value.column == column and f"column '{column}'" in str(info.value)


def test_csv_rejections_report_line_numbers_and_multiline_rows_their_first_line() -> None:
    records = _csv(
        'e1,x,comment,b1,a1,false,1,"line one',
        'line two",1,,',  # the quoted text spans physical lines 2-3
        "",
        "e2,x,comment,b1,a1,maybe,1,t,1,,",
        "e3,x,comment,b1,a1,1,1,t,1,,,surplus",
    )
    assert [(r.line, r.end) for r in records] == [(2, 3), (5, 5), (6, 6)]
    assert records[0].candidates[0].obj["text"] == "line one\nline two"  # type: ignore[index]
    bad = records[1].candidates[0]
    assert (bad.reason, bad.line, bad.source_file) == (CSV_VALUE, 5, "f.csv")
    assert bad.error == "line 5: column 'is_brand': expected true/false/1/0, got 'maybe'"
    assert bad.raw == b"e2,x,comment,b1,a1,maybe,1,t,1,,"
    assert records[2].candidates[0].error == "line 6: column '$': 12 cells but the header has 11 columns"


def test_csv_from_line_keeps_the_header_and_skips_rows_that_start_earlier() -> None:
    rows = [f"e{i},x,like,b1,a{i},,,,{i},," for i in range(2, 7)]  # lines 2..6
    text = "\n".join([HEADER, *rows]) + "\n"
    records = list(csv_records(io.StringIO(text, newline=""), "f.csv", from_line=4))
    assert [r.line for r in records] == [4, 5, 6]
    assert records[0].candidates[0].obj["event_id"] == "e4"  # type: ignore[index]


def test_csv_header_must_name_canonical_fields_once(tmp_path: Path) -> None:
    assert check_csv_header([" event_id", "text "]) == ["event_id", "text"]
    with pytest.raises(InputFormatError, match="header"):
        check_csv_header(["e1", "x", "comment"])  # a data row where the header should be
    with pytest.raises(InputFormatError, match="duplicate"):
        check_csv_header(["event_id", "text", "text"])
    path = tmp_path / "bom.csv.gz"
    path.write_bytes(gzip.compress("\ufeffevent_id,platform\ne1,x\n".encode()))
    assert read_csv_header(path) == ["event_id", "platform"]  # Excel's BOM is not part of the name
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputFormatError, match=r"bad\.csv"):
        read_csv_header(tmp_path / "bad.csv")


# --- pacing ----------------------------------------------------------------------------------------


class FakeClock:
    """Time only moves when the replay loop would sleep (or when a test says so)."""

    def __init__(self) -> None:
        self.now = 100.0

    def send(self, due: float) -> float:
        self.now = max(self.now, due)
        return self.now


def test_rate_pacer_spaces_events_on_an_absolute_schedule() -> None:
    clock, pacer = FakeClock(), RatePacer(10)
    sent = [clock.send(pacer.due(clock.now)) for _ in range(51)]
    assert sent[0] == 100.0  # the first event goes at once
    assert sent[-1] == pytest.approx(105.0)  # 50 intervals of 0.1 s: no drift
    # Work between sends (e.g. a flush taking 0.03 s) is absorbed, not added to the interval.
    clock, pacer = FakeClock(), RatePacer(10)
    sent = []
    for _ in range(51):
        sent.append(clock.send(pacer.due(clock.now)))
        clock.now += 0.03
    assert sent[-1] == pytest.approx(105.0)


def test_rate_pacer_catches_up_at_most_a_burst_after_a_stall() -> None:
    clock, pacer = FakeClock(), RatePacer(10, burst=5)
    for _ in range(10):
        clock.send(pacer.due(clock.now))
    clock.now = 200.0  # a 100 s stall (say, a slow broker)
    dues = [pacer.due(clock.now) for _ in range(8)]
    # 5 events' worth of debt is sent at once, the rest is forgiven: the schedule resumes at 200.1.
    assert [d <= 200.0 for d in dues] == [True] * 6 + [False] * 2
    assert dues[6] == pytest.approx(200.1) and dues[7] == pytest.approx(200.2)


def test_speedup_pacer_keeps_original_gaps_divided() -> None:
    clock, pacer = FakeClock(), SpeedupPacer(10)
    base = 1_700_000_000_000
    offsets_s = [0, 10, 10, 40, 25, 100]  # 25 is out of order
    sent = [clock.send(pacer.due(clock.now, base + s * 1000)) for s in offsets_s]
    assert sent == pytest.approx([100.0, 101.0, 101.0, 104.0, 104.0, 110.0])


def test_speedup_pacer_sends_untimed_events_at_once_and_starts_immediately() -> None:
    pacer = SpeedupPacer(2)
    assert pacer.due(5.0, None) == 5.0  # no timestamp: does not anchor the schedule
    assert pacer.due(7.0, 1_000_000) == 7.0  # first timed event anchors at "now"
    assert pacer.due(7.5, 1_004_000) == 9.0
    assert pacer.due(9.0, 999_000) == 9.0  # older than the first: no wait


def test_occurred_ms_reads_the_formats_parse_event_accepts() -> None:
    assert occurred_ms({"occurred_at": 1_700_000_000_123}) == 1_700_000_000_123
    assert occurred_ms({"occurred_at": "2023-11-14T22:13:20.5Z"}) == 1_700_000_000_500
    assert occurred_ms({"occurred_at": "yesterday"}) is None
    assert occurred_ms({"text": "no time"}) is None and occurred_ms(None) is None


def test_pacers_refuse_non_positive_settings() -> None:
    with pytest.raises(ValueError):
        RatePacer(0)
    with pytest.raises(ValueError):
        SpeedupPacer(-1)
