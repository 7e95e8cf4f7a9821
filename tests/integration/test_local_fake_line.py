"""The fake LINE Messaging API checks requests like LINE, dedupes retry keys, counts a monthly quota, records pushes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest

from enishi_local.fake_line import FakeLine

TOKEN = "test-token"
NOW = datetime(2026, 4, 10, 3, 0, tzinfo=UTC)


@pytest.fixture
def line():
    with FakeLine(access_token=TOKEN, monthly_quota=3, now=lambda: NOW) as fake:
        yield fake


def _call(line, path, body=None, *, token=TOKEN, retry_key=None, method=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if retry_key:
        headers["X-Line-Retry-Key"] = retry_key
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(line.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def _push(line, messages, **kw):
    return _call(line, "/v2/bot/message/push", {"to": "U" + "0" * 32, "messages": messages}, **kw)


TEXT = {"type": "text", "text": "こんにちは"}


def test_a_valid_push_is_accepted_and_recorded(line):
    key = str(uuid.uuid4())
    status, _headers, body = _push(line, [TEXT, TEXT], retry_key=key)
    assert status == 200
    assert len(body["sentMessages"]) == 2
    (push,) = line.pushes()
    assert push["to"] == "U" + "0" * 32 and push["messages"] == [TEXT, TEXT]
    assert push["retry_key"] == key and push["sent_at"] == NOW.isoformat()


def test_a_wrong_token_is_401(line):
    status, _, body = _push(line, [TEXT], token="nope")
    assert status == 401 and "access token" in body["message"]
    assert line.pushes() == []


@pytest.mark.parametrize(
    ("messages", "prop"),
    [
        ([], "messages"),
        ([TEXT] * 6, "messages"),
        ([{"type": "text", "text": "あ" * 5001}], "messages[0].text"),
        ([{"type": "flex", "altText": "x" * 1501, "contents": {"type": "bubble"}}], "messages[0].altText"),
        (
            [
                {
                    "type": "flex",
                    "altText": "ok",
                    "contents": {"type": "bubble", "body": {"text": "x" * 31_000}},
                }
            ],
            "messages[0].contents",
        ),
        (
            [
                {
                    "type": "flex",
                    "altText": "ok",
                    "contents": {"type": "carousel", "contents": [{"type": "bubble"}] * 13},
                }
            ],
            "messages[0].contents.contents",
        ),
        (
            [
                {
                    "type": "flex",
                    "altText": "ok",
                    "contents": {
                        "type": "carousel",
                        "contents": [{"type": "bubble", "body": {"text": "x" * 20_000}}] * 3,
                    },
                }
            ],
            "messages[0].contents",
        ),
    ],
)
def test_limits_are_enforced_with_lines_error_shape(line, messages, prop):
    status, _, body = _push(line, messages)
    assert status == 400
    assert body["message"].startswith("The request body has")
    assert prop in [d["property"] for d in body["details"]]
    assert line.pushes() == []


def test_the_retry_key_must_be_a_uuid(line):
    status, _, body = _push(line, [TEXT], retry_key="not-a-uuid")
    assert status == 400 and "X-Line-Retry-Key" in body["message"]


def test_a_repeated_retry_key_is_409_with_the_original_request_and_messages(line):
    key = str(uuid.uuid4())
    _, first_headers, first = _push(line, [TEXT], retry_key=key)
    status, headers, body = _push(line, [TEXT], retry_key=key)
    assert status == 409
    assert headers["x-line-accepted-request-id"] == first_headers["x-line-request-id"]
    assert body["sentMessages"] == first["sentMessages"]
    assert len(line.pushes()) == 1


def test_the_monthly_quota_is_reported_and_enforced(line):
    assert _call(line, "/v2/bot/message/quota")[2] == {"type": "limited", "value": 3}
    for _ in range(3):
        assert _push(line, [TEXT])[0] == 200
    assert _call(line, "/v2/bot/message/quota/consumption")[2] == {"totalUsage": 3}
    status, _, body = _push(line, [TEXT])
    assert status == 429 and body == {"message": "You have reached your monthly limit."}


def test_injected_faults_then_recovery(line):
    line.fail_next(2, 500)
    assert _push(line, [TEXT])[0] == 500
    assert _push(line, [TEXT])[0] == 500
    assert _push(line, [TEXT])[0] == 200
    assert len(line.pushes()) == 1


def test_a_lost_response_is_accepted_so_the_retry_gets_409(line):
    key = str(uuid.uuid4())
    line.fail_next(1, 503, accept=True)
    assert _push(line, [TEXT], retry_key=key)[0] == 503
    assert _push(line, [TEXT], retry_key=key)[0] == 409
    assert len(line.pushes()) == 1


def test_the_line_bot_sdk_accepts_the_fake():
    """The official SDK (what a shop might use) talks to the fake unchanged."""
    from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, PushMessageRequest, TextMessage

    with FakeLine(access_token=TOKEN, now=lambda: NOW) as fake:
        with ApiClient(Configuration(access_token=TOKEN, host=fake.url)) as client:
            resp = MessagingApi(client).push_message(
                PushMessageRequest(to="U1", messages=[TextMessage(text="hi")]),
                x_line_retry_key=str(uuid.uuid4()),
            )
        assert len(resp.sent_messages) == 1
        assert fake.pushes()[0]["messages"][0]["text"] == "hi"


def test_the_fake_answers_keep_alive_requests_without_a_delayed_ack_stall(line):
    import time

    import requests

    with requests.Session() as session:
        url = line.url + "/v2/bot/message/quota"
        session.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        started = time.perf_counter()
        for _ in range(20):
            session.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        mean = (time.perf_counter() - started) / 20
    assert mean < 0.02, f"{mean * 1000:.0f} ms a request"


# ---- multicast (POST /v2/bot/message/multicast)

MULTICAST = "/v2/bot/message/multicast"


def _user(i: int) -> str:
    return "U" + f"{i:032x}"


def test_a_multicast_is_accepted_with_an_empty_body_and_counts_each_recipient(line):
    key = str(uuid.uuid4())
    body = {"to": [_user(1), _user(2)], "messages": [TEXT], "customAggregationUnits": ["winter_sale"]}
    status, headers, answer = _call(line, MULTICAST, body, retry_key=key)
    assert status == 200 and answer == {} and headers.get("x-line-request-id")
    assert line.usage() == 2
    (request,) = line.multicasts()
    assert request["to"] == [_user(1), _user(2)] and request["retry_key"] == key
    assert [p["to"] for p in line.pushes()] == [_user(1), _user(2)]  # one delivered message each


def test_a_repeated_multicast_retry_key_is_409_without_sent_messages(line):
    key = str(uuid.uuid4())
    body = {"to": [_user(1)], "messages": [TEXT]}
    first = _call(line, MULTICAST, body, retry_key=key)
    status, headers, answer = _call(line, MULTICAST, body, retry_key=key)
    assert status == 409 and "sentMessages" not in answer
    assert headers.get("x-line-accepted-request-id") == first[1].get("x-line-request-id")
    assert line.usage() == 1 and len(line.multicasts()) == 1


def test_a_malformed_user_id_is_400_naming_it(line):
    status, _, answer = _call(line, MULTICAST, {"to": [_user(1), "U123", _user(2)], "messages": [TEXT]})
    assert status == 400
    assert answer["details"] == [{"message": "invalid user ID", "property": "to[1]"}]
    assert line.multicasts() == [] and line.usage() == 0


@pytest.mark.parametrize(
    "body, prop",
    [
        ({"to": [], "messages": [TEXT]}, "to"),
        ({"to": [_user(i) for i in range(501)], "messages": [TEXT]}, "to"),
        ({"to": _user(1), "messages": [TEXT]}, "to"),
        ({"to": [_user(1)], "messages": []}, "messages"),
        (
            {"to": [_user(1)], "messages": [TEXT], "customAggregationUnits": ["a", "b"]},
            "customAggregationUnits",
        ),
        (
            {"to": [_user(1)], "messages": [TEXT], "customAggregationUnits": ["has-dash"]},
            "customAggregationUnits",
        ),
    ],
    ids=["no-one", "501", "not-a-list", "no-message", "two-units", "bad-unit"],
)
def test_a_malformed_multicast_is_400(line, body, prop):
    status, _, answer = _call(line, MULTICAST, body)
    assert status == 400 and prop in {d["property"] for d in answer["details"]}


def test_a_multicast_the_rest_of_the_quota_cannot_cover_is_refused_whole(line):
    """Quota 3: a multicast to 2 uses 2; one to 2 more is refused with 429 (nothing sent); one to 1 fits."""
    assert _call(line, MULTICAST, {"to": [_user(1), _user(2)], "messages": [TEXT]})[0] == 200
    status, _, answer = _call(line, MULTICAST, {"to": [_user(3), _user(4)], "messages": [TEXT]})
    assert status == 429 and answer["message"] == "You have reached your monthly limit."
    assert line.usage() == 2
    assert _call(line, MULTICAST, {"to": [_user(5)], "messages": [TEXT]})[0] == 200
    assert line.usage() == 3


def test_the_line_client_multicasts_and_meets_the_fakes_answers(line):
    from enishi.channels.line import LineClient, LineQuotaExceeded, LineRejected

    client = LineClient(line.url, TOKEN, sleep=lambda _s: None)
    key = str(uuid.uuid4())
    result = client.multicast([_user(1)], [TEXT], key, aggregation_unit="unit_1")
    assert result.request_id and not result.duplicate
    assert client.multicast([_user(1)], [TEXT], key).duplicate
    with pytest.raises(LineRejected) as bad:
        client.multicast([_user(2), "nope"], [TEXT], str(uuid.uuid4()))
    assert bad.value.details == [{"message": "invalid user ID", "property": "to[1]"}]
    with pytest.raises(LineQuotaExceeded):
        client.multicast([_user(i) for i in range(3)], [TEXT], str(uuid.uuid4()))
    with pytest.raises(ValueError):
        client.multicast([_user(i) for i in range(501)], [TEXT], str(uuid.uuid4()))
