"""Model profiles: the sampling and behaviour that suit a family of models, chosen from the
loaded model's id unless the user names one.

The shipped values come from the seed (Qwen 2.5: temperature 0.7, top_p 0.9, top_k 40,
repeat_penalty 1.1, 8k context; DeepSeek-R1 distills: temperature 0.5) and from the model
makers' own recommendations where the seed is silent (Qwen3 non-thinking: 0.7 / 0.8 / 20).
What the user set explicitly (file, environment, flag) always wins over a profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conscious.config import Config, Profile
from conscious.errors import ConfigError

SHIPPED: dict[str, Profile] = {
    # Most specific first: an R1 distill of Qwen is an R1 model.
    "deepseek-r1": Profile(
        match=[r"deepseek[-_ ]?r1", r"r1[-_ ]distill"],
        temperature=0.5,
        top_p=0.95,
        top_k=40,
        max_tokens=2048,
        strip_think=True,
        honours_schema=False,  # a grammar from the first token would forbid its reasoning
        context_length=8192,
    ),
    "qwen3": Profile(
        match=[r"qwen3"],
        temperature=0.7,
        top_p=0.8,
        top_k=20,
        repeat_penalty=1.05,
        max_tokens=800,
        strip_think=True,
        context_length=8192,
    ),
    "qwen2.5": Profile(
        match=[r"qwen2\.?5"],
        temperature=0.7,
        top_p=0.9,
        top_k=40,
        repeat_penalty=1.1,
        max_tokens=500,
        context_length=8192,
    ),
    "smollm2": Profile(
        match=[r"smollm"],
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        repeat_penalty=1.1,
        max_tokens=300,
        context_length=8192,
        # Measured on the shipped suite (`conscious eval`): its confidence says little (right 88 %
        # of the time below 0.3, 80 % above 0.9); 0.7 held right fixes back. BENCHMARKS.md.
        min_confidence_to_delegate=0.1,
    ),
}

SAMPLING = ("temperature", "top_p", "top_k", "repeat_penalty", "max_tokens")


@dataclass(frozen=True)
class Chosen:
    name: str
    profile: Profile
    how: str
    """``configured`` or ``matched <pattern>``."""


def catalogue(config: Config) -> dict[str, Profile]:
    """Shipped profiles, with the user's own added or put in their place."""
    return {**SHIPPED, **config.profiles}


def choose(config: Config, model_id: str | None) -> Chosen | None:
    """The profile for this model: the configured one, else the first whose pattern matches."""
    profiles = catalogue(config)
    if config.profile is not None:
        if config.profile not in profiles:
            raise ConfigError(f"no model profile named {config.profile!r} (known: {', '.join(sorted(profiles))})")
        return Chosen(config.profile, profiles[config.profile], "configured")
    for name, profile in profiles.items():
        for pattern in profile.match:
            if model_id and re.search(pattern, model_id, flags=re.IGNORECASE):
                return Chosen(name, profile, f"matched {pattern!r}")
    return None


def apply(config: Config, chosen: Chosen | None) -> Config:
    """The config with the profile's settings in place of the defaults the user did not change."""
    if chosen is None:
        return config
    mine = config.model_fields_set
    update: dict[str, object] = {
        key: value for key in SAMPLING if key not in mine and (value := getattr(chosen.profile, key)) is not None
    }
    if chosen.profile.decide is not None and "decide" not in mine:
        update["decide"] = chosen.profile.decide
    if not chosen.profile.honours_schema and "schema_dialect" not in mine:
        update["schema_dialect"] = "none"
    if (threshold := chosen.profile.min_confidence_to_delegate) is not None and not mine & {
        "min_confidence_to_delegate",
        "reflection_confidence_threshold",
    }:
        update["min_confidence_to_delegate"] = threshold
        update["reflection_confidence_threshold"] = min(threshold, config.reflection_confidence_threshold)
    return config.model_copy(update=update)  # private state (the config's file) is copied too
