"""The measured confidence: the chosen option's share among the valid ones at its token."""

from __future__ import annotations

import math

import pytest

from conscious.think.confidence import TokenLogprob, choice_probability


def tok(text: str, p: float, *top: tuple[str, float]) -> TokenLogprob:
    return TokenLogprob(text, math.log(p), tuple((t, math.log(q)) for t, q in top))


def test_the_share_of_the_chosen_option_among_the_valid_ones() -> None:
    tokens = [tok('{"', 1.0), tok("choice", 1.0), tok('":"', 1.0), tok("B", 0.5, ("A", 0.3), ("B", 0.5), ("{", 0.1))]
    tokens.append(tok('","', 1.0))
    assert choice_probability(tokens, "B", ["A", "B", "C"]) == pytest.approx(0.5 / 0.8)
    assert choice_probability(tokens, "A", ["A", "B", "C"]) == pytest.approx(0.3 / 0.8)


def test_a_token_that_carries_the_quote_with_the_letter() -> None:
    tokens = [tok('{"choice":', 1.0), tok(' "C', 0.9, (' "A', 0.05), (' "C', 0.9), (' "Z', 0.05))]
    assert choice_probability(tokens, "C", ["A", "B", "C"]) == pytest.approx(0.9 / 0.95)


def test_no_key_or_no_logprobs_for_the_choice_is_none() -> None:
    assert choice_probability([tok('{"reasoning":"x"}', 1.0)], "A", ["A"]) is None
    assert choice_probability([tok('{"choice":"', 1.0), tok("Q", 1.0)], "A", ["A", "B"]) is None
