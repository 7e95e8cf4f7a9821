"""Render a message from Jinja2 templates: an email (subject, HTML, text) or LINE message objects (text / Flex).

Templates live in ``functions/enishi/templates/`` and are named ``<sequence>_<step>`` (``template_name``):

    email/<name>.txt    the text part; its ``{% block subject %}`` is the subject (one line)
    email/<name>.html   the HTML part (autoescaped; extends ``email/_layout.html``: 600 px tables, inline styles,
                        the unsubscribe notice on top of marketing mail, the legal footer and the SNS links)
    line/<name>.json    a JSON list of LINE message objects (≤ 5). Every ``{{ … }}`` is JSON-string-escaped
                        automatically, so write ``"text": "{{ customer.display_name }}"`` (never ``|tojson``).

The bundled names (``TEMPLATE_NAMES``), referenced from ``shop/sequences.yaml``:

    welcome_welcome            welcome_brand_story        welcome_f2_nudge     welcome_f2_nudge_b (A/B)
    shipping_notice_shipped    shipping_notice_followup   (transactional: no advertising)
    cart_recovery_reminder_1   cart_recovery_reminder_2   (no discount by default)
    winback_winback_1          winback_winback_2

A shop overrides any of them (or a partial such as ``email/_layout.html``) by putting a file with the same relative
path under ``shop/templates/`` (``shop_config.templates_override_dir()``): that folder is searched first.

Jinja2 is imported on the first render, not at import time (cold start of the send function).
LINE limits are enforced here with ``LineLimitError``: ≤ 5 messages, text ≤ 5,000 characters, Flex ``altText``
≤ 1,500 characters, bubble ≤ 30 KB, carousel ≤ 12 bubbles and ≤ 50 KB (KB taken as 1,000 bytes: the strict
reading).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enishi import bootstrap

if TYPE_CHECKING:  # pragma: no cover
    from jinja2 import Environment

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "templates"

TEMPLATE_NAMES = (
    "welcome_welcome",
    "welcome_brand_story",
    "welcome_f2_nudge",
    "welcome_f2_nudge_b",  # the F2 nudge's A/B test, variant b (shop/sequences.yaml)
    "shipping_notice_shipped",
    "shipping_notice_followup",
    "cart_recovery_reminder_1",
    "cart_recovery_reminder_2",
    "winback_winback_1",
    "winback_winback_2",
)

LINE_MAX_MESSAGES = 5
LINE_MAX_TEXT_CHARS = 5_000
LINE_MAX_ALT_TEXT_CHARS = 1_500
LINE_MAX_BUBBLE_BYTES = 30_000
LINE_MAX_CAROUSEL_BYTES = 50_000
LINE_MAX_CAROUSEL_BUBBLES = 12
SUBJECT_MAX_CHARS = 200

_NAME = re.compile(r"^[a-z0-9_]{1,80}$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_UNRENDERED = re.compile(r"\{\{|\{%|\{#")


class RenderError(Exception):
    """A template is missing, broken, or produced something that cannot be sent."""


class LineLimitError(RenderError):
    """A LINE message breaks one of the Messaging API's limits."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def template_name(sequence: str, step: str) -> str:
    return f"{sequence}_{step}"


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


def _json_string_content(value: Any) -> str:
    """Finalizer of the LINE environment: every printed value becomes the inside of a JSON string."""
    if value is None:
        return ""
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


@functools.cache
def _environments(override_dir: str) -> tuple[Environment, Environment]:
    import jinja2  # deferred: ~40 ms, paid on the first render rather than on every cold import

    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(override_dir), jinja2.FileSystemLoader(str(BUNDLED_DIR))]
    )
    common: dict[str, Any] = {
        "loader": loader,
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": False,
    }
    email_env = jinja2.Environment(
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        finalize=_none_as_empty,
        **common,
    )
    line_env = jinja2.Environment(autoescape=False, finalize=_json_string_content, **common)
    return email_env, line_env


bootstrap.on_reset(_environments.cache_clear)


def _env(kind: str) -> Environment:
    from enishi import shop_config

    email_env, line_env = _environments(str(shop_config.templates_override_dir()))
    return email_env if kind == "email" else line_env


def _check_name(template: str) -> None:
    if not _NAME.match(template):
        raise RenderError(f"invalid template name {template!r}: use <sequence>_<step> (a-z, 0-9, _)")


def _render(kind: str, path: str, ctx: dict[str, Any], block: str | None = None) -> str:
    import jinja2

    env = _env(kind)
    try:
        tmpl = env.get_template(path)
        if block is None:
            return tmpl.render(ctx)
        if block not in tmpl.blocks:
            raise RenderError(f"template {path} has no {{% block {block} %}}")
        return "".join(tmpl.blocks[block](tmpl.new_context(ctx)))
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"template not found: {path} (looked in shop/templates/ and the bundled templates)"
        ) from exc
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {path}: {exc}") from exc


def _check_rendered(path: str, output: str) -> None:
    if _UNRENDERED.search(output):
        raise RenderError(f"template {path} left template syntax ({{{{ or {{%) in its output")


def _render_subject(source: str, ctx: dict[str, Any]) -> str:
    """A subject given as text (an A/B variant's, Jinja like the template's block) rendered with ``ctx``."""
    import jinja2

    try:
        return _env("email").from_string(source).render(ctx)
    except jinja2.TemplateError as exc:
        raise RenderError(f"subject {source!r}: {exc}") from exc


def render_email(template: str, ctx: dict[str, Any], subject: str | None = None) -> RenderedEmail:
    """Subject, HTML and text of ``template`` (e.g. ``cart_recovery_reminder_1``) with ``ctx`` from build_context.

    ``subject``: the subject's source in place of the template's ``{% block subject %}`` (an A/B variant's)."""
    _check_name(template)
    text_path, html_path = f"email/{template}.txt", f"email/{template}.html"
    source = (
        _render("email", text_path, ctx, block="subject")
        if subject is None
        else _render_subject(subject, ctx)
    )
    subject = " ".join(source.split())
    if not subject:
        raise RenderError(f"template {text_path}: empty subject")
    if len(subject) > SUBJECT_MAX_CHARS:
        raise RenderError(f"template {text_path}: subject longer than {SUBJECT_MAX_CHARS} characters")
    full = {**ctx, "subject": subject}
    text = _BLANK_LINES.sub("\n\n", _render("email", text_path, full)).strip() + "\n"
    html = _render("email", html_path, full)
    for path, output in ((text_path, subject + text), (html_path, html)):
        _check_rendered(path, output)
    unsubscribe = (ctx.get("links") or {}).get("unsubscribe_url")
    if ctx.get("marketing"):
        if not unsubscribe:
            raise RenderError(
                f"{template}: a marketing email needs links.unsubscribe_url (特定電子メール法 §4)"
            )
        escaped = unsubscribe.replace("&", "&amp;")
        if unsubscribe not in text or (unsubscribe not in html and escaped not in html):
            raise RenderError(f"{template}: the marketing email does not show its unsubscribe link")
    return RenderedEmail(subject=subject, html=html, text=text)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _check_text(where: str, message: dict[str, Any]) -> None:
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LineLimitError(f"{where}: empty text")
    if len(text) > LINE_MAX_TEXT_CHARS:
        raise LineLimitError(f"{where}: text has {len(text)} characters; the limit is {LINE_MAX_TEXT_CHARS}")


def _check_bubble(where: str, contents: dict[str, Any]) -> None:
    size = _json_size(contents)
    if size > LINE_MAX_BUBBLE_BYTES:
        raise LineLimitError(f"{where}: bubble is {size} bytes; the limit is {LINE_MAX_BUBBLE_BYTES}")


def _check_carousel(where: str, contents: dict[str, Any]) -> None:
    bubbles = contents.get("contents") or []
    if not bubbles or len(bubbles) > LINE_MAX_CAROUSEL_BUBBLES:
        raise LineLimitError(
            f"{where}: carousel has {len(bubbles)} bubbles; allowed 1 to {LINE_MAX_CAROUSEL_BUBBLES}"
        )
    size = _json_size(contents)
    if size > LINE_MAX_CAROUSEL_BYTES:
        raise LineLimitError(f"{where}: carousel is {size} bytes; the limit is {LINE_MAX_CAROUSEL_BYTES}")
    for b_index, bubble in enumerate(bubbles, start=1):
        b_size = _json_size(bubble)
        if b_size > LINE_MAX_BUBBLE_BYTES:
            raise LineLimitError(
                f"{where} bubble {b_index}: {b_size} bytes; the limit is {LINE_MAX_BUBBLE_BYTES}"
            )


_FLEX_CHECKS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "bubble": _check_bubble,
    "carousel": _check_carousel,
}


def _check_flex(where: str, message: dict[str, Any]) -> None:
    alt = message.get("altText")
    if not isinstance(alt, str) or not alt.strip():
        raise LineLimitError(f"{where}: a Flex message needs a non-empty altText")
    if len(alt) > LINE_MAX_ALT_TEXT_CHARS:
        raise LineLimitError(
            f"{where}: altText has {len(alt)} characters; the limit is {LINE_MAX_ALT_TEXT_CHARS}"
        )
    contents = message.get("contents") or {}
    kind = contents.get("type")
    check = _FLEX_CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        raise LineLimitError(f"{where}: Flex contents must be a bubble or a carousel")
    check(where, contents)


# message type → its limits; other types (image, sticker, …) have none checked here
_MESSAGE_CHECKS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "text": _check_text,
    "flex": _check_flex,
}


def _message_list(messages: Any, source: str) -> list[dict[str, Any]]:
    """The message objects of a push body (``{"messages": [...]}``), one message, or a list of them."""
    if isinstance(messages, dict):
        messages = messages.get("messages", [messages])
    if not isinstance(messages, list) or not messages:
        raise LineLimitError(f"{source}: expected 1 to {LINE_MAX_MESSAGES} message objects")
    if len(messages) > LINE_MAX_MESSAGES:
        raise LineLimitError(
            f"{source}: {len(messages)} messages; LINE allows at most {LINE_MAX_MESSAGES} per push"
        )
    return messages


def validate_line_messages(messages: Any, source: str = "messages") -> list[dict[str, Any]]:
    """Check LINE's limits; returns the messages. Raises ``LineLimitError`` naming the broken limit."""
    checked = _message_list(messages, source)
    for index, message in enumerate(checked, start=1):
        where = f"{source} message {index}"
        if not isinstance(message, dict) or "type" not in message:
            raise LineLimitError(f"{where}: not a message object with a type")
        kind = message["type"]
        check = _MESSAGE_CHECKS.get(kind) if isinstance(kind, str) else None
        if check is not None:
            check(where, message)
    return checked


def render_line(template: str, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """LINE message objects of ``template`` with ``ctx``: parsed from JSON and checked against LINE's limits."""
    _check_name(template)
    path = f"line/{template}.json"
    output = _render("line", path, ctx)
    _check_rendered(path, output)
    try:
        parsed = json.loads(output)
    except json.JSONDecodeError as exc:
        raise RenderError(
            f"template {path} did not produce valid JSON: {exc.msg} at line {exc.lineno}"
        ) from exc
    return validate_line_messages(parsed, source=path)
