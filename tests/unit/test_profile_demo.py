"""``make profile-demo``'s summary: each part's share of the wall time and of the samples on the GIL, and the
process CPU beside them (py-spy's "no holder" samples are not idle time when the CPU is busy)."""

from __future__ import annotations

from pathlib import Path

from bench.profile_demo import summarise

FOLDED = """\
thread (0x1);Thread.run (threading.py:982);BotocoreStubber.process_request (moto/core/botocore_stubber.py:70) 30
thread (0x1);BaseClient._make_api_call (botocore/client.py:998);send (enishi/channels/email.py:40) 10
thread (0x2);drive (enishi_local/demo/driver.py:150) 10
"""


def test_parts_are_shares_of_the_wall_and_of_the_samples_and_the_cpu_is_reported(tmp_path: Path):
    folded = tmp_path / "demo.folded"
    folded.write_text(FOLDED, encoding="utf-8")
    text = summarise(folded, seconds=1.0, rate=100, cpu_seconds=0.98)
    assert "Process CPU (user + system, the demo and py-spy): 1.0 s = 98% of the wall time" in text
    assert "| moto (AWS emulated) | 30.0% | 60.0% |" in text
    assert "| demo driver and shop simulation | 10.0% | 20.0% |" in text
    assert "| no GIL holder found in the sample (waiting, or missed: see above) | 50.0% | |" in text


def test_without_a_cpu_reading_the_table_stands_alone(tmp_path: Path):
    folded = tmp_path / "demo.folded"
    folded.write_text(FOLDED, encoding="utf-8")
    assert "Process CPU" not in summarise(folded, seconds=1.0, rate=100)
