"""The measured confidence: each option's share at the choice's token, at the sampling temperature."""

from __future__ import annotations

import math

import pytest

from conscious.think.confidence import option_shares


def tok(text: str, p: float, *top: tuple[str, float]) -> tuple[str, float, tuple[tuple[str, float], ...]]:
    return (text, math.log(p), tuple((t, math.log(q)) for t, q in top))


def tokens(*specs: tuple[str, float, tuple[tuple[str, float], ...]]) -> list:  # type: ignore[type-arg]
    from conscious.think.backends.base import TokenLogprob

    return [TokenLogprob(*s) for s in specs]


def test_the_share_of_each_valid_option_at_its_token() -> None:
    reply = tokens(
        tok('{"', 1.0), tok("choice", 1.0), tok('":"', 1.0), tok("B", 0.5, ("A", 0.3), ("B", 0.5), ("{", 0.1))
    )
    shares = option_shares(reply, ["A", "B", "C"])
    assert shares == pytest.approx({"A": 0.3 / 0.8, "B": 0.5 / 0.8})


def test_a_low_temperature_sharpens_the_shares_as_the_sampler_did() -> None:
    reply = tokens(tok('{"choice":"', 1.0), tok("A", 0.6, ("A", 0.6), ("B", 0.4)))
    shares = option_shares(reply, ["A", "B"], temperature=0.2)
    assert shares is not None
    assert shares["A"] == pytest.approx(0.6**5 / (0.6**5 + 0.4**5))
    assert shares["A"] > 0.88


def test_a_token_that_carries_the_quote_with_the_letter() -> None:
    reply = tokens(tok('{"choice":', 1.0), tok(' "C', 0.9, (' "A', 0.05), (' "C', 0.9), (' "Z', 0.05)))
    assert option_shares(reply, ["A", "B", "C"]) == pytest.approx({"A": 0.05 / 0.95, "C": 0.9 / 0.95})


def test_no_key_or_no_valid_option_at_it_is_none() -> None:
    assert option_shares(tokens(tok('{"reasoning":"x"}', 1.0)), ["A"]) is None
    assert option_shares(tokens(tok('{"choice":"', 1.0), tok("Q", 1.0)), ["A", "B"]) is None
