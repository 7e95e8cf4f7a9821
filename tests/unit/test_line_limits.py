"""LINE's limits on message objects (``channels.render.validate_line_messages``): each check names what it refused.

``test_templates.test_line_limits_are_enforced_with_clear_errors`` covers the size limits; these are the branches it
does not reach (shapes, empty texts, types without limits, one oversized bubble inside a carousel).
"""

from __future__ import annotations

from typing import Any

import pytest

from enishi.channels.render import LineLimitError, validate_line_messages

BUBBLE = {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": []}}
TEXT = {"type": "text", "text": "こんにちは"}


def flex(contents: Any) -> dict[str, Any]:
    return {"type": "flex", "altText": "a", "contents": contents}


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param({"messages": [TEXT]}, id="a push body"),
        pytest.param(TEXT, id="one message object"),
        pytest.param([TEXT], id="a list"),
    ],
)
def test_a_push_body_one_message_or_a_list_is_accepted(messages):
    assert validate_line_messages(messages) == [TEXT]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"type": "sticker", "packageId": "1", "stickerId": "1"}, id="sticker"),
        pytest.param({"type": ["text"]}, id="a type that is not a string"),
    ],
)
def test_types_without_limits_pass_unchecked(message):
    assert validate_line_messages([message]) == [message]


@pytest.mark.parametrize(
    ("messages", "refusal"),
    [
        pytest.param([], "expected 1 to 5", id="no messages"),
        pytest.param("hello", "expected 1 to 5", id="not a list"),
        pytest.param([{"text": "x"}], "message 1: not a message object with a type", id="no type"),
        pytest.param([TEXT, "text"], "message 2: not a message object with a type", id="not an object"),
        pytest.param([{"type": "text", "text": "  "}], "message 1: empty text", id="blank text"),
        pytest.param([{"type": "text"}], "message 1: empty text", id="no text"),
        pytest.param([{"type": "flex", "contents": BUBBLE}], "non-empty altText", id="no altText"),
        pytest.param([flex({"type": "box"})], "a bubble or a carousel", id="flex of a box"),
        pytest.param(
            [{"type": "flex", "altText": "a"}], "a bubble or a carousel", id="flex without contents"
        ),
        pytest.param([flex({"type": ["bubble"]})], "a bubble or a carousel", id="contents type not a string"),
        pytest.param(
            [flex({"type": "carousel", "contents": []})], "carousel has 0 bubbles", id="empty carousel"
        ),
    ],
)
def test_each_refusal_names_the_broken_rule(messages, refusal):
    with pytest.raises(LineLimitError, match=refusal):
        validate_line_messages(messages)


def test_one_oversized_bubble_in_a_small_carousel_is_named_by_its_position():
    big = {
        **BUBBLE,
        "body": {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": "x" * 31_000}]},
    }
    with pytest.raises(LineLimitError, match="message 1 bubble 2: 31"):
        validate_line_messages([flex({"type": "carousel", "contents": [BUBBLE, big]})])
