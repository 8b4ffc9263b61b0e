"""A confidence that is measured: the probability the model gave to the option it chose.

Where the server returns token log-probabilities (llama-server does), the choice's first token
is found in the reply and its alternatives read from the server's top log-probabilities: the
confidence is the chosen option's share of the probability the model gave to all the valid
options at that point. The self-reported number stays beside it as metadata. Where the server
gives none, the self-report is all there is, and the status says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from conscious.think.backends.base import TokenLogprob


def choice_probability(
    tokens: Sequence[TokenLogprob], chosen: str, options: Sequence[str], *, key: str = "choice"
) -> float | None:
    """``chosen``'s share of the probability over ``options`` where the reply writes the value
    of ``key``; None when the reply or the log-probabilities do not show it."""
    text = "".join(t.token for t in tokens)
    m = re.search(rf'"{re.escape(key)}"\s*:\s*"', text)
    if m is None:
        return None
    start = 0
    for t in tokens:
        if start <= m.end() < start + len(t.token):
            return _share(t, text[start : m.end()], chosen, options)
        start += len(t.token)
    return None


def _share(token: TokenLogprob, prefix: str, chosen: str, options: Sequence[str]) -> float | None:
    mass: dict[str, float] = {}
    seen: set[str] = set()
    for alt, logprob in ((token.token, token.logprob), *token.top):
        if alt in seen or not alt.startswith(prefix):
            continue
        seen.add(alt)
        option = alt[len(prefix) :].strip().rstrip('"').strip()
        if option in options:
            mass[option] = mass.get(option, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    if chosen not in mass or total <= 0:
        return None
    return mass[chosen] / total
