"""The deliverable form of an e-mail address, decided once, where a cart's data enters (the adapters).

Japanese forms often produce full-width addresses (``ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ``). SES takes 7-bit ASCII
addresses only (an internationalised domain must be given in punycode), so the raw string would be refused at send
time while the lookup hash (``keys.email_hash``, which folds the same way) says the customer is known.

``deliverable(raw)``:

- NFKC (full-width letters, digits, ``＠`` and ``．`` become ASCII), then trim surrounding white space;
- split at the last ``@``; the **domain** is lower-cased and IDNA-encoded (``例え.jp`` → ``xn--r8jz45g.jp``;
  the ideographic full stop ``。`` separates labels too), each label 1–63 of ``[a-z0-9-]``, at least two labels;
- the **local part keeps its case**: RFC 5321 lets a server treat it case-sensitively, so enishi does not change
  where a message goes (identity is case-insensitive anyway: the lookup hash lower-cases the whole address). It must
  be ASCII ``atext`` and dots (dots anywhere: older docomo / au addresses such as ``taro..x.@docomo.ne.jp`` are real
  and delivered), at most 64 characters; quoted local parts are not supported;
- the whole address at most 254 characters.

Anything else is not deliverable: ``None``. The adapters keep what the cart sent as ``CustomerRef.email_original``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TypedDict

MAX_ADDRESS_CHARS = 254
MAX_LOCAL_CHARS = 64
MAX_INPUT_CHARS = 1000  # longer inputs are not addresses; refuse before normalising

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")  # used with fullmatch ("$" would allow a final "\n")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def deliverable(raw: object) -> str | None:
    """The address SES can be given for ``raw``, or None when there is none (see the module docstring)."""
    if not isinstance(raw, str) or len(raw) > MAX_INPUT_CHARS:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or len(local) > MAX_LOCAL_CHARS or not _LOCAL.fullmatch(local):
        return None
    ascii_domain = _domain(domain)
    if ascii_domain is None:
        return None
    address = f"{local}@{ascii_domain}"
    return address if len(address) <= MAX_ADDRESS_CHARS else None


def _domain(domain: str) -> str | None:
    try:
        encoded = domain.lower().encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        return None
    labels = encoded.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return encoded


class EmailFields(TypedDict):
    """The e-mail keyword arguments of ``events.CustomerRef``."""

    email: str | None
    email_original: str | None


def fields(raw: object) -> EmailFields:
    """``CustomerRef`` keyword arguments for a cart's e-mail value: ``email`` (deliverable or None) and
    ``email_original`` (the cart's value when it differs from ``email``; None when they are the same or absent)."""
    if raw is None or raw == "":
        return {"email": None, "email_original": None}
    original = raw if isinstance(raw, str) else str(raw)
    email = deliverable(original)
    return {"email": email, "email_original": None if email == original else original[:MAX_INPUT_CHARS]}
