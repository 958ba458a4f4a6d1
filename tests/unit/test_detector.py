from datetime import UTC, datetime, timedelta

from services.alerts.detector import WindowCount, observe, volume_alert, window_start
from services.common.avro import codec

T0 = datetime(2026, 11, 1, 14, 0, 5, tzinfo=UTC)


def record(i: int) -> dict[str, object]:
    return {"event_id": f"e{i}", "text": f"complaint {i}" if i % 2 else None}


def test_window_start_floors_to_the_window() -> None:
    assert window_start(T0, 60) == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert window_start(T0 + timedelta(seconds=55), 60) == datetime(2026, 11, 1, 14, 1, tzinfo=UTC)


def test_fires_exactly_once_when_the_threshold_is_crossed() -> None:
    state = WindowCount()
    fired = [observe(state, record(i), threshold=10, sample_size=3) for i in range(25)]
    assert fired.index(True) == 9 and fired.count(True) == 1
    assert state.count == 25 and state.sample_event_ids == ["e0", "e1", "e2"]
    assert state.sample_texts == ["complaint 1"]


def test_alert_is_valid_avro_with_deterministic_id_and_severity() -> None:
    state = WindowCount(count=31, fired=True, sample_event_ids=["e1"], sample_texts=["t"])
    start = window_start(T0, 60)
    a = volume_alert(brand_id="b", start=start, window_seconds=60, state=state, threshold=10, fired_at=T0)
    b = volume_alert(brand_id="b", start=start, window_seconds=60, state=state, threshold=10, fired_at=T0)
    assert a["alert_id"] == b["alert_id"]
    assert (
        a["severity"] == "critical"
        and a["observed"] == 31.0
        and a["window_end"] - start == timedelta(minutes=1)
    )
    decoded = codec("alert").decode(codec("alert").encode(a))
    assert decoded["summary"] == a["summary"] and decoded["sample_event_ids"] == ["e1"]
    state.count = 12
    assert (
        volume_alert(brand_id="b", start=start, window_seconds=60, state=state, threshold=10, fired_at=T0)[
            "severity"
        ]
        == "warning"
    )
