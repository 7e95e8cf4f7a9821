"""Numbers from outside are read as ASCII digits only (issue 9 defect 5's class: "t=²" passed isdigit())."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from enishi.digits import ascii_int, is_ascii_digits

ROOT = Path(__file__).resolve().parents[2]


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.booleans(), st.floats()))
def test_ascii_int_never_raises_and_reads_only_ascii_digits(value):
    number = ascii_int(value, 20, signed=True)
    if number is not None:
        text = str(value).strip()
        assert re.fullmatch(r"-?[0-9]{1,20}", text)
        assert number == int(text)


def test_superscripts_and_other_scripts_digits_are_not_numbers():
    for text in ("²", "¹²", "٣", "１２", "1²", "+1", " ", "", "-", "1_000"):
        assert ascii_int(text) is None, text
        assert not is_ascii_digits(text)
    assert ascii_int(" 42 ") == 42
    assert ascii_int("-3") is None and ascii_int("-3", signed=True) == -3
    assert ascii_int("9" * 21) is None and ascii_int(10**21) is None
    assert ascii_int(True) is None


def test_no_code_outside_the_digits_module_trusts_str_isdigit():
    # str.isdigit() is true for "²": every external number goes through enishi.digits instead
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for base in ("functions", "enishi_local", "infra")
        for path in (ROOT / base).rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".isdigit()" in line and path.name != "digits.py"
    ]
    assert offenders == []
