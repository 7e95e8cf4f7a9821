"""Integers written by someone else (headers, query strings, cart fields), read strictly.

``str.isdigit`` is true for "²", "¹" and "٣": ``int`` then refuses the first two and reads the third as 3. Every
number enishi takes from outside is read here instead — ASCII digits only, bounded length — so a hostile character
can neither raise past a signature check nor be read as a different number. Pure.
"""

from __future__ import annotations

ASCII_DIGITS = frozenset("0123456789")


def is_ascii_digits(text: str, max_digits: int = 20) -> bool:
    """``text`` is 1..max_digits ASCII digits (no sign, no spaces)."""
    return 0 < len(text) <= max_digits and set(text) <= ASCII_DIGITS


def ascii_int(value: object, max_digits: int = 20, *, signed: bool = False) -> int | None:
    """An int from a str of ASCII digits (surrounding spaces ignored; a leading ``-`` when ``signed``) or an int
    (not a bool) of at most ``max_digits`` digits; None for anything else. Never raises."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if len(str(abs(value))) <= max_digits and (signed or value >= 0) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    negative = signed and text.startswith("-")
    body = text[1:] if negative else text
    if not is_ascii_digits(body, max_digits):
        return None
    return -int(body) if negative else int(body)
