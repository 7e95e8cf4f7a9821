"""The enishi command line: the curl snippet signs like Shopify, the outbox table, argument handling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import subprocess

import pytest

from enishi_local import cli


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_the_curl_snippet_signs_the_body_like_shopify():
    # Given the snippet, with the server's clock stubbed and the POST replaced by printing what it would send
    snippet = cli.curl_example("http://127.0.0.1:8787", "s3cr3t")
    stub = """curl() { echo '{"status": "ok", "now": "2026-06-01T02:00:00+00:00", "routes": []}'; }\n"""
    script = stub + snippet.split("curl -sS -X POST")[0] + 'printf "%s\\n%s" "$SIG" "$BODY"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    sig, body = out.split("\n", 1)
    # Then the signature is base64 HMAC-SHA256 of the exact body, and the body carries the current time
    expected = base64.b64encode(hmac.new(b"s3cr3t", body.encode("utf-8"), hashlib.sha256).digest()).decode()
    assert sig == expected
    assert '"created_at":"2026-06-01T02:00:00+00:00"' in body  # the stack's virtual now
    assert '"email":"you@example.jp"' in body


def test_outbox_table_lines_up_japanese_text():
    table = cli.outbox_table(
        [
            {
                "sent_at": "2026-06-01T03:00:00+00:00",
                "channel": "email",
                "recipient": "a@example.jp",
                "sequence": "cart_recovery",
                "step": "reminder_1",
                "subject": "お買い物カゴに商品が残っています",
            },
            {
                "sent_at": "2026-06-01T04:00:00+00:00",
                "channel": "line",
                "recipient": "U123",
                "sequence": None,
                "step": None,
                "subject": None,
                "text": "こんにちは\n二行目",
            },
        ]
    )
    lines = table.splitlines()
    assert lines[2].startswith("2026-06-01 12:00  email")  # JST
    assert "cart_recovery/reminder_1" in lines[2]
    assert "こんにちは 二行目" in lines[3]
    assert lines[-1] == "2 message(s)"
    assert cli.outbox_table([]) == "(nothing sent yet)"


def test_outbox_reports_an_unreachable_server(capsys):
    assert cli.main(["outbox", "--url", "http://127.0.0.1:9"]) == 1
    assert "enishi local" in capsys.readouterr().err


def test_demo_is_delegated(monkeypatch):
    import enishi_local.demo as demo

    seen = []
    monkeypatch.setattr(demo, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["demo", "--customers", "10"]) == 0
    assert seen == [["--customers", "10"]]
