"""A confidence that is measured: the probability with which the model made its choice.

Where the server returns token log-probabilities (llama-server does; LM Studio's OpenAI surface
returns none), the choice's first token is found in the reply and its alternatives read from
the server's top log-probabilities. Each option's share is what the sampler gave it at the
thought's temperature (the server reports the raw distribution; a choice at temperature 0.2 is
drawn from a much sharper one), renormalised over the valid options. The self-reported number
stays beside it as metadata; where the server gives none, it is all there is, and the status
says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from conscious.think.backends.base import TokenLogprob


def option_shares(
    tokens: Sequence[TokenLogprob], options: Sequence[str], *, temperature: float = 1.0, key: str = "choice"
) -> dict[str, float] | None:
    """Option → the probability the sampler gave it where the reply writes the value of ``key``
    (summing to 1 over the options seen there); None when the reply or its log-probabilities
    do not show it."""
    text = "".join(t.token for t in tokens)
    m = re.search(rf'"{re.escape(key)}"\s*:\s*"', text)
    if m is None:
        return None
    start = 0
    for t in tokens:
        if start <= m.end() < start + len(t.token):
            return _shares(t, text[start : m.end()], options, max(temperature, 0.01))
        start += len(t.token)
    return None


def _shares(token: TokenLogprob, prefix: str, options: Sequence[str], temperature: float) -> dict[str, float] | None:
    best: dict[str, float] = {}
    seen: set[str] = set()
    for alt, logprob in ((token.token, token.logprob), *token.top):
        if alt in seen or not alt.startswith(prefix):
            continue
        seen.add(alt)
        option = alt[len(prefix) :].strip().rstrip('"').strip()
        if option in options:
            best[option] = math.log(math.exp(best[option]) + math.exp(logprob)) if option in best else logprob
    if not best:
        return None
    top = max(best.values())
    weights = {o: math.exp((lp - top) / temperature) for o, lp in best.items()}
    total = sum(weights.values())
    return {o: w / total for o, w in weights.items()}
