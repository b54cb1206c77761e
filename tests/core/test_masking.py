"""Masking: pyTMBot's examples, and properties over any Unicode input."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from hostwarden import mask_user_id, mask_username


def test_known_examples() -> None:
    assert mask_user_id(123456789) == "12*****89"
    assert mask_username("johndoe_admin") == "joh*******min"
    assert mask_username("bob") == "***"
    assert mask_username("@johndoe_admin").startswith("@joh")
    assert mask_username(None) == "-"
    assert mask_user_id(42) == "**"


def test_markup_and_bidi_marks_are_neutralised() -> None:
    assert mask_username("<script>alert(1)</script>") == "&lt;sc********pt&gt;"
    assert "\u202e" not in mask_username("\u202eabcdefgh\u202e")


def revealed(masked: str) -> str:
    return html.unescape(masked).replace("*", "").lstrip("@")


@given(st.text(max_size=5000))
def test_usernames_never_raise_and_reveal_at_most_six(value: str) -> None:
    masked = mask_username(value)
    assert "<" not in masked and ">" not in masked and '"' not in masked
    assert len(revealed(masked)) <= 6 or masked == "-"
    assert len(masked) <= 60


@given(st.one_of(st.integers(), st.text(max_size=200), st.none(), st.floats()))
def test_user_ids_never_raise_and_reveal_at_most_four(value: object) -> None:
    masked = mask_user_id(value)
    assert "<" not in masked and ">" not in masked
    assert len(revealed(masked)) <= 4


@given(st.integers(min_value=10**5, max_value=10**12))
def test_long_ids_keep_two_digits_each_side(value: int) -> None:
    text = str(value)
    masked = mask_user_id(value)
    assert masked.startswith(text[:2]) and masked.endswith(text[-2:])
    assert text not in masked


class Hostile:
    def __str__(self) -> str:
        raise RuntimeError("boom")


def test_hostile_str_does_not_raise() -> None:
    assert mask_username(Hostile()) == "-"
    assert mask_user_id(Hostile()) == "*"
