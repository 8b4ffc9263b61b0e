"""What a user's words ask for, read from the words alone: nothing (thanks, hello), something too
vague to hand to anyone, a question the journal answers, a note for memory, a large task for
several agents, or a plain request. What each offers is ``candidates``' to say."""

from __future__ import annotations

import re
from typing import Literal

from conscious.model import QUESTION

Ask = Literal["nothing", "vague", "question", "memory", "large", "plain"]

MEMORY = re.compile(
    r"\b(remember|recall|don'?t forget|keep in mind|make a note|note (that|down)|what did (we|i)|"
    r"what do (we|you) know|remind me|(we|i) (always |never |usually )?(use|prefer)|convention|from now on)\b"
    r"|^\s*(note|fyi|n\.b\.)\b[^:\n]{0,24}:",
    re.IGNORECASE,
)
CHAT = re.compile(
    r"(?:(?:thanks?( a lot| you)?|thank you|thx|ty|ok(ay)?|cool|great|nice|perfect|good (job|work)|well done|"
    r"hi|hello|hey|good (morning|evening)|how('s| is) it going|how are you|lgtm|sounds good|👍|🙏|👌|🎉|🙂|😊|"
    r"that'?s|that is|it'?s|this is|so|very|really|(so |very )?much|awesome|amazing|excellent|brilliant|"
    r"love it|(it )?works( now)?)[\s.!?,:;)—-]*)+"
    r"(?:conscious[\s.!?]*)?",
    re.IGNORECASE,
)
"""Words to the orchestrator that ask for nothing: no paid agent is offered them."""
STATE = re.compile(
    r"\b(what('s| is| are)? (is )?(running|going on|in progress|pending|waiting)|"
    r"what (are|is) (the |our |my )?(you|they|agents?|tasks?|workers?|claude( code| flow)?) (doing|working on)|"
    r"what (has )?happened|what (was|got|have you) (done|changed|merged|delegated)|status of|"
    r"(did|have|has) (we|you|it|anyone|anybody)\b|when did|which (tasks?|agents?))",
    re.IGNORECASE,
)
"""Questions about the project's state or its history, which the journal holds."""
VAGUE = re.compile(
    r"(?:please |pls |can you |could you )?"
    r"(?:make (?:it|this|things|everything) (?:better|work|nicer|faster|good|great)|"
    r"fix (?:it|this|that|things|everything|stuff)|improve (?:it|this|things|everything|stuff)|"
    r"do something|do (?:your|the) (?:thing|magic)|clean(?: it)? up|help(?: me)?|"
    r"(?:optimi[sz]e|refactor|tidy|polish) (?:it|this|things|everything|stuff)|sort it out|handle it|go ahead)"
    r"(?: please)?[\s.!?]*",
    re.IGNORECASE,
)
"""Asks that name nothing to change: asked back, never sent to a paid agent."""
LARGE = re.compile(
    r"\b(migrate|migration|across|every|all (the |our )?(services|modules|packages|repos|files)|"
    r"whole|entire|in parallel|parallel|swarm|each (of|service|module)|end-to-end|audit)\b",
    re.IGNORECASE,
)


def kind(words: str) -> Ask:
    words = words.strip()
    if not words or CHAT.fullmatch(words):
        return "nothing"
    if VAGUE.fullmatch(words):
        return "vague"
    if (MEMORY.search(words) or STATE.search(words)) and QUESTION.search(words):
        return "question"
    if MEMORY.search(words):
        return "memory"
    if LARGE.search(words) or len(words) > 300 or words.count("\n") >= 2:
        return "large"
    return "plain"
