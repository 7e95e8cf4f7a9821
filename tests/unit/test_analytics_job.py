"""The job's write-back steps through the changed rows one part per call (functions/enishi/analytics/job.py)."""

from __future__ import annotations

from typing import Any

from enishi.analytics import job as job_module
from enishi.analytics.job import Job


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {}

    def put_lines(self, key: str, rows: Any) -> int:
        self.objects[key] = list(rows)
        return len(self.objects[key])

    def lines(self, key: str) -> Any:
        return iter(self.objects[key])


class FakeWriter:
    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, rows: list[dict[str, Any]]) -> int:
        self.written += [r["customer_id"] for r in rows]
        return len(rows)


def test_write_back_walks_every_part_once_and_stops(monkeypatch):
    monkeypatch.setattr(job_module, "WRITE_BACK_CHUNK", 2)
    bucket, writer = FakeBucket(), FakeWriter()
    rows = [{"customer_id": str(i), "segment": "new"} for i in range(5)]
    for part, start in enumerate(range(0, 5, 2)):
        bucket.put_lines(job_module._part_key("segments/x/changed/", part), rows[start : start + 2])
    job = Job(
        athena=None,  # type: ignore[arg-type]
        bucket=bucket,  # type: ignore[arg-type]
        describe_export=lambda arn: {},
        writer=writer,  # type: ignore[arg-type]
        settings_for=lambda t: None,  # type: ignore[arg-type, return-value]
        source="test",
    )
    state: dict[str, Any] = {
        "changed_key": "segments/x/changed/",
        "changed": 5,
        "written": 0,
        "next_offset": 0,
    }
    offsets = []
    while state["next_offset"] is not None:
        state = job.write_back(state)
        offsets.append(state["next_offset"])
    assert offsets == [1, 2, None]
    assert writer.written == [str(i) for i in range(5)] and state["written"] == 5
