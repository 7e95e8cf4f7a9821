"""moto's per-request work made cheaper, with the same answers (issue 14, measured in ``docs/internals.md``).

Every handler call into the local stack pays boto3's client side (as deployed) and then moto's side: route the
URL to a backend, build a request, parse, run the operation, serialise. A profile of ``make demo`` after the
earlier cuts showed moto doing the same pure work again and again on that path; each install below remembers or
skips one such piece, never changing what a request returns or raises. Each returns its undo, like
``moto_patches``; ``tests/integration/test_local_fastpaths.py`` compares answers with and without each.

- ``install_item_size_running_total``: moto checks DynamoDB's 400 KB item limit on every attribute it sets by
  summing the sizes of all the attributes already set, so building an item of n attributes costs n² size walks (a
  profile-sized item of 45 attributes: 1.7 M ``bytesize`` calls per 300 puts). A running total gives the same
  verdict at the same attribute.
- ``install_expression_caches``: an UpdateExpression is parsed twice per UpdateItem (the response layer, then the
  model), a ConditionExpression lexed twice; both are pure functions of the expression string, which the handlers
  spell the same way every time. The parsed tree is shared safely because moto's validator deep-copies it before
  substituting values; the lexed tokens are immutable named tuples.
- ``install_route_cache``: moto finds a request's backend by trying every service's URL patterns in turn, then
  rebuilding that backend's URL map and compiling each of its patterns; a URL's route is fixed while the stack runs.
- ``install_request_templates``: moto builds each werkzeug request through werkzeug's test ``EnvironBuilder``; a
  request to a method and URL seen before gets a copy of the first one's environ with its own body and headers.
- ``install_fast_random_strings``: a response's 52-character request id in one ``random.choices`` draw.
- ``install_plain_clock_reads``: moto's clock helpers without an import statement per call.
- ``install_shallow_message_copies``: SQS receives copy a message shallowly (the filter gives the copy a new dict).
- ``install_camelcase_cache``: moto's action and attribute name conversion remembered per string.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

Undo = Callable[[], None]

CACHE_LIMIT = 4096  # distinct expressions / URLs remembered; beyond it, computed every time (S3 object URLs)
# moto's own threshold (DynamoDB documents 400 KB; moto measured AWS's real limit at 409-410 KB)
ITEM_SIZE_LIMIT = 405000


def install_item_size_running_total() -> Undo:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original = Item.__init__

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        built = LimitedSizeDict.__new__(LimitedSizeDict)  # filled below without the per-key full re-sum
        total = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            added = bytesize(key) + typed.size()
            if total + added > ITEM_SIZE_LIMIT:  # moto's check: the attributes so far plus this one
                raise ItemSizeTooLarge
            dict.__setitem__(built, key, typed)
            total += added
        self.attrs = built

    Item.__init__ = __init__  # type: ignore[method-assign]

    def undo() -> None:
        Item.__init__ = original  # type: ignore[method-assign]

    return undo


def install_expression_caches() -> Undo:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    original_make = UpdateExpressionParser.__dict__["make"]
    original_lex = ConditionExpressionParser._lex_condition_expression
    trees: dict[str, Any] = {}
    tokens: dict[str, tuple[Any, ...]] = {}

    def make(cls: Any, expression_str: str) -> Any:
        tree = trees.get(expression_str)
        if tree is None:
            tree = original_make.__func__(
                cls, expression_str
            )  # raises for a bad expression: never remembered
            if len(trees) < CACHE_LIMIT:
                trees[expression_str] = tree
        return tree

    def lex(self: Any) -> deque[Any]:
        expression = self.condition_expression
        found = tokens.get(expression)
        if found is None:
            found = tuple(original_lex(self))
            if len(tokens) < CACHE_LIMIT:
                tokens[expression] = found
        return deque(found)  # the later passes consume the deque and build new nodes

    UpdateExpressionParser.make = classmethod(make)
    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]

    def undo() -> None:
        UpdateExpressionParser.make = original_make
        ConditionExpressionParser._lex_condition_expression = original_lex  # type: ignore[method-assign]
        trees.clear()
        tokens.clear()

    return undo


def install_route_cache() -> Undo:
    import re

    import moto.backend_index as backend_index
    import moto.backends as backends
    import moto.core.request as moto_request
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BackendDict
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
    from moto.core.exceptions import HTTPException
    from moto.core.utils import get_equivalent_url_in_aws_domain
    from moto.moto_api import recorder

    original = BotocoreStubber.process_request
    routes: dict[str, Callable[..., Any]] = {}
    clean_urls: dict[str, str] = {}

    def clean(url: str) -> str:
        found = clean_urls.get(url)
        if found is None:
            parsed, _ = get_equivalent_url_in_aws_domain(url)
            # the querystring is never matched on
            found = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
            if len(clean_urls) < CACHE_LIMIT:
                clean_urls[url] = found
        return found

    def route(clean_url: str) -> Callable[..., Any] | None:
        """moto's own search, minus the dispatch: the handler for the URL, or None where moto would not dispatch
        (a passthrough, a service left out, no match) — those take moto's path every time."""
        if passthrough_url(clean_url):
            return None
        for service, pattern in backend_index.backend_url_patterns:
            if not pattern.match(clean_url):
                continue
            if passthrough_service(service) or not service_whitelisted(service):
                return None
            backend_dict = backends.get_backend(service)  # type: ignore[call-overload]
            if isinstance(backend_dict, BackendDict):
                regions = backend_dict[DEFAULT_ACCOUNT_ID]
                backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
            else:
                backend = backend_dict["global"]
            for url, method_to_execute in backend.urls.items():
                if re.compile(url).match(clean_url):
                    return method_to_execute
        return None

    def process_request(self: Any, request: Any) -> Any:
        clean_url = clean(request.url)
        method_to_execute = routes.get(clean_url)
        if method_to_execute is None:
            method_to_execute = route(clean_url)
            if method_to_execute is None:
                return original(self, request)
            if len(routes) < CACHE_LIMIT:
                routes[clean_url] = method_to_execute
        normalized_request = moto_request.normalize_request(request)
        try:
            recorder._record_request(normalized_request)
            status, headers, body = method_to_execute(
                normalized_request, normalized_request.raw_url, normalized_request.headers
            )
        except HTTPException as e:
            status, headers, body = e.code, e.get_headers(), e.get_body()
        return status, headers, body

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]

    def undo() -> None:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]
        routes.clear()
        clean_urls.clear()

    return undo


def install_fast_random_strings() -> Undo:
    """moto draws every response's request id (52 characters) one ``random.choice`` at a time: 52 calls per request,
    a tenth of a small GetItem's time on moto's side. ``random.choices`` draws the same uniform characters from the
    same generator in one call. Only the stream of random values differs, and nothing here seeds moto's generator."""
    import string

    from moto.moto_api._internal.moto_random import MotoRandom

    original = MotoRandom.get_random_string
    letters, alphanumeric = string.ascii_letters, string.ascii_letters + string.digits

    def get_random_string(
        self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
    ) -> str:
        drawn = "".join(self.choices(alphanumeric if include_digits else letters, k=length))
        return drawn.lower() if lower_case else drawn

    MotoRandom.get_random_string = get_random_string  # type: ignore[method-assign]

    def undo() -> None:
        MotoRandom.get_random_string = original  # type: ignore[method-assign]

    return undo


def _rebind(module: Any, replacements: dict[str, Callable[..., Any]]) -> Undo:
    """Rebind functions of ``module`` by name in every moto module loaded by now that imported them (``from x import
    f`` copies the reference); a module loaded later keeps the original, which answers the same. The undo."""
    import sys

    originals = {name: getattr(module, name) for name in replacements}
    rebound: list[tuple[Any, str]] = []
    for loaded in [m for name, m in list(sys.modules.items()) if name.startswith("moto") and m is not None]:
        for name, function in replacements.items():
            if getattr(loaded, name, None) is originals[name]:
                setattr(loaded, name, function)
                rebound.append((loaded, name))

    def undo() -> None:
        for loaded, name in rebound:
            setattr(loaded, name, originals[name])

    return undo


def install_plain_clock_reads() -> Undo:
    """moto's ``utcnow``, ``utcfromtimestamp`` and ``unix_time`` each run ``from datetime import UTC`` on every call
    (an import statement per clock read: moto reads the clock for every request, SQS message and event, 1.3 % of
    the demo on its own). The same arithmetic with the names bound once, rebound where moto imported them."""
    import datetime as dt

    import moto.core.utils as utils

    epoch = dt.datetime(1970, 1, 1)  # moto's utcfromtimestamp(0)
    utc = dt.UTC

    def utcnow() -> dt.datetime:
        return dt.datetime.now(utc).replace(tzinfo=None)

    def utcfromtimestamp(value: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(value, tz=utc).replace(tzinfo=None)

    def unix_time(when: dt.datetime | None = None) -> float:
        delta = (when or utcnow()) - epoch
        return (delta.days * 86400) + (delta.seconds + (delta.microseconds / 1e6))

    def unix_time_millis(when: dt.datetime | None = None) -> float:
        return unix_time(when) * 1000.0

    return _rebind(
        utils,
        {
            "utcnow": utcnow,
            "utcfromtimestamp": utcfromtimestamp,
            "unix_time": unix_time,
            "unix_time_millis": unix_time_millis,
        },
    )


def install_camelcase_cache() -> Undo:
    """moto's ``camelcase_to_underscores`` remembered per string (a pure function of its argument, walked a character
    at a time): every request names its action by it, and SQS's ``Queue.attributes`` — read on every SendMessage and
    GetQueueAttributes — converts each of a queue's attribute names again (0.8 % of the demo). The names it sees
    are action and attribute names: a bounded set."""
    import functools

    import moto.core.responses  # loaded, so their references are rebound
    import moto.core.utils as utils
    import moto.sqs.models  # noqa: F401

    return _rebind(
        utils, {"camelcase_to_underscores": functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)}
    )


def install_shallow_message_copies() -> Undo:
    """moto's ReceiveMessage deep-copies every message it hands out, only so that filtering the copy's message
    attributes leaves the queue's message whole; the filter assigns a new attribute dict to the copy, so a shallow
    copy keeps the queue's message just as whole (a deep copy per message received was 1.1 % of the demo). Every
    other deep copy in moto's SQS module (the pending FIFO groups) stays deep."""
    import copy

    import moto.sqs.models as sqs_models

    original = sqs_models.deepcopy
    message_type = sqs_models.Message

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if type(value) is message_type:
            return copy.copy(value)
        return original(value, memo)

    sqs_models.deepcopy = deepcopy  # type: ignore[assignment]

    def undo() -> None:
        sqs_models.deepcopy = original

    return undo


# what each request sets for itself; "werkzeug.request" is the Request an environ belongs to (werkzeug sets it)
_PER_REQUEST = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH", "wsgi.input", "werkzeug.request"})


def install_request_templates() -> Undo:
    """moto turns every boto3 request into a werkzeug ``Request`` through werkzeug's test ``EnvironBuilder`` (header
    objects, URL quoting, stream probing): 5.6 % of the demo, most of it for the same few URLs (DynamoDB, SQS,
    EventBridge and Step Functions post every call to their endpoint's root). The first request to a method and URL
    is built by moto; its environ, less the body and headers, is kept; later requests to it get a copy with their
    own body and headers, set as werkzeug sets them. Requests with a body moto must read otherwise (a stream, a
    chunked upload) or a header name moto preserves (``x-amz-meta-…_…``) always take moto's way."""
    import io

    import moto.core.request as moto_request
    from botocore.awsrequest import AWSPreparedRequest

    original = moto_request.normalize_request
    request_type = moto_request.Request
    preserved_key = moto_request.PRESERVED_HEADER_NAMES_ENVIRON_KEY
    templates: dict[tuple[str, str], dict[str, Any]] = {}

    def plain(request: Any) -> bool:
        return type(request) is AWSPreparedRequest and type(request.body) is bytes and bool(request.body)

    def normalize_request(request: Any) -> Any:
        if not plain(request) or any("_" in name for name in request.headers):
            return original(request)
        template = templates.get((request.method, request.url))
        if template is None:
            built = original(request)
            if len(templates) < CACHE_LIMIT:
                templates[(request.method, request.url)] = {
                    k: v
                    for k, v in built.environ.items()
                    if k not in _PER_REQUEST
                    and k != preserved_key
                    and (not k.startswith("HTTP_") or k == "HTTP_HOST")
                }
            return built
        return request_type(_environ(template, request))

    def _environ(template: dict[str, Any], request: Any) -> dict[str, Any]:
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(request.body)
        content_type = None
        combined: dict[str, list[str]] = {}
        for name, raw in request.headers.items():
            value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            lower = name.lower()
            if lower == "content-type":
                content_type = value if content_type is None else content_type
            elif lower not in ("content-length", "transfer-encoding"):
                combined.setdefault(f"HTTP_{name.upper().replace('-', '_')}", []).append(value)
        if content_type is not None:
            environ["CONTENT_TYPE"] = content_type
        environ["CONTENT_LENGTH"] = str(len(request.body))
        for key, values in combined.items():
            environ[key] = ", ".join(values)
        environ[preserved_key] = {}
        return environ

    moto_request.normalize_request = normalize_request

    def undo() -> None:
        moto_request.normalize_request = original
        templates.clear()

    return undo
