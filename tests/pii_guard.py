"""A session-wide guard: no log line written during the test suite contains an email address, a phone number, a
customer's name or a LINE user id (DESIGN.md invariant 6; issue 9, suite item 6).

How: ``install()`` wraps ``logging.Handler.format``, the one place every handler (Powertools' JSON handler on stdout,
pytest's capture handler, the local stack's) turns a record into the text it writes, and scans that text. Findings
are kept per process; ``tests/conftest.py`` writes them to a file per xdist worker at session end and the controller
fails the run if any worker found one. Cost: one regex pass per formatted line.

Not covered: ``print`` and subprocesses (the ``enishi`` CLI tests); tests that log PII on purpose to check this
guard use ``expect_pii()``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}|[^\s\"'<>@＠]+＠[^\s\"'<>@＠]+"
)
PHONE = re.compile(
    # 03-1234-5678, 555-625-1199
    r"(?<![\w\-.:/])(?:\+\d{1,3}[\s\-]?)?\(?\d{2,4}\)?[\s\-]\d{2,4}[\s\-]\d{3,4}(?![\w\-.:/])"
    r"|(?<![\w\-])\+\d{10,15}(?![\w\-])"  # E.164
    r"|(?<![\w\-])0[5789]0\d{8}(?![\w\-])"  # 09012345678
)
LINE_USER_ID = re.compile(r"(?<![0-9A-Za-z])U[0-9a-f]{32}(?![0-9A-Za-z])")

# Addresses that belong to the shop or to AWS, not to a customer (the shop's sender and contact address, SES's
# mailbox simulator are configuration, and are in the template and the footer of every mail anyway).
NOT_PERSONAL_EMAIL = re.compile(
    r"@(?:mail\.)?enishi-sabo\.example$|@simulator\.amazonses\.com$", re.IGNORECASE
)


def _fixture_names() -> set[str]:
    """Person names used by the fixtures and the demo: first/last names (≥ 2 characters) of tests/events,
    docs/examples and the demo's name lists."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("first_name", "last_name") and isinstance(value, str) and len(value) >= 2:
                    names.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for folder in (ROOT / "tests" / "events", ROOT / "docs" / "examples"):
        for path in folder.rglob("*.json"):
            try:
                walk(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, OSError):
                continue
    try:
        from enishi_local.demo.people import FIRST_NAMES, LAST_NAMES

        names |= {kanji for kanji, _kana, _roman in (*LAST_NAMES, *FIRST_NAMES) if len(kanji) >= 2}
    except ImportError:
        pass
    return names


@dataclass(frozen=True)
class Finding:
    kind: str
    value: str
    logger: str
    line: str


class Guard:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._names: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self._expecting = 0
        self._original_format = None

    @property
    def names(self) -> re.Pattern[str]:
        if self._names is None:
            found = sorted(_fixture_names(), key=len, reverse=True)
            # ASCII names only as whole words ("Shipper" is a name, "Shippers" is not); kanji names anywhere
            alts = [
                rf"(?<![A-Za-z]){re.escape(n)}(?![A-Za-z])" if n.isascii() else re.escape(n) for n in found
            ]
            self._names = re.compile("|".join(alts)) if alts else re.compile(r"(?!x)x")
        return self._names

    def scan(self, text: str) -> list[tuple[str, str]]:
        hits = [("email", m) for m in EMAIL.findall(text) if not NOT_PERSONAL_EMAIL.search(m)]
        hits += [("phone", m) for m in PHONE.findall(text)]
        hits += [("line_user_id", m) for m in LINE_USER_ID.findall(text)]
        hits += [("name", m) for m in self.names.findall(text)]
        return hits

    def check(self, text: str, logger: str) -> None:
        hits = self.scan(text)
        if hits:
            with self._lock:
                self.findings += [Finding(kind, value, logger, text[:300]) for kind, value in hits]

    def install(self) -> None:
        if self._original_format is not None:
            return
        original = logging.Handler.format
        guard = self

        def format(handler: logging.Handler, record: logging.LogRecord) -> str:
            text = original(handler, record)
            if not guard._expecting:
                guard.check(text, record.name)
            return text

        self._original_format = original
        logging.Handler.format = format  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original_format is not None:
            logging.Handler.format = self._original_format  # type: ignore[method-assign]
            self._original_format = None

    @contextmanager
    def expect_pii(self) -> Iterator[None]:
        """For tests that log PII on purpose (to test this guard): lines formatted inside are not checked."""
        self._expecting += 1
        try:
            yield
        finally:
            self._expecting -= 1

    def report(self) -> list[dict[str, str]]:
        unique: dict[tuple[str, str, str], dict[str, str]] = {}
        for f in self.findings:
            unique.setdefault(
                (f.kind, f.value, f.logger),
                {"kind": f.kind, "value": f.value, "logger": f.logger, "line": f.line},
            )
        return list(unique.values())


GUARD = Guard()
