"""Cart adapters: one module per cart, each turning a verified webhook into canonical events (``enishi.events``).

Every adapter raises ``Unprocessable`` when an authentic body does not fit its model; intake keeps such bodies
for replay instead of dropping them.
"""

from __future__ import annotations


class Unprocessable(Exception):
    """An authentic payload that cannot be turned into canonical events. ``details`` says where and why."""

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def as_dict(self) -> dict[str, object]:
        return {"error": self.message, "details": self.details}


def validation_details(exc: object) -> list[dict[str, str]]:
    """pydantic ``ValidationError`` → [{"loc": "data.customer.email", "msg": "..."}] (no input values: may be PII)."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return [{"loc": "", "msg": str(exc)}]
    return [
        {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": str(e.get("msg", ""))}
        for e in errors(include_url=False, include_input=False)
    ]


class CartRequestFailed(Exception):
    """A polled cart's API refused the request (4xx other than 401/429, or a GraphQL error): a bug or a config
    error. Raised by ``polling.http``; cart modules catch it (here, below the polling package, so they need not
    import it)."""
