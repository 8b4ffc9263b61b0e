from pathlib import Path

import pytest

from conscious.config import Config
from conscious.errors import ConfigError
from conscious.paths import Paths
from conscious.think import profiles
from conscious.think.backends.embedded import EmbeddedServer
from conscious.think.connection import connect


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("qwen2.5-14b-instruct", "qwen2.5"),
        ("lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF", "qwen2.5"),
        ("qwen3-30b-a3b", "qwen3"),
        ("DeepSeek-R1-Distill-Qwen-14B", "deepseek-r1"),
        ("deepseek-r1-distill-qwen2.5-7b", "deepseek-r1"),  # the reasoning family, not the base
        ("SmolLM2-135M-Instruct.Q4_1", "smollm2"),
        ("llama-3.1-8b-instruct", None),
        (None, None),
    ],
)
def test_a_profile_is_chosen_from_the_model_id(config: Config, model_id: str | None, expected: str | None) -> None:
    chosen = profiles.choose(config, model_id)
    assert (chosen.name if chosen else None) == expected


def test_what_the_user_set_wins_over_the_profile(paths: Paths, watched: Path) -> None:
    paths.config_file.write_text("temperature = 0.9\n")
    config = Config.load(paths, watch=[watched], top_k=7)
    applied = profiles.apply(config, profiles.choose(config, "qwen3-8b"))
    assert (applied.temperature, applied.top_k) == (0.9, 7)  # file and flag
    assert (applied.top_p, applied.max_tokens, applied.repeat_penalty) == (0.8, 800, 1.05)  # the profile
    assert applied.file == config.file


def test_a_profile_s_measured_threshold_applies_unless_you_set_one(paths: Paths, watched: Path) -> None:
    config = Config.load(paths, watch=[watched])
    smol = profiles.choose(config, "SmolLM2-135M-Instruct")
    applied = profiles.apply(config, smol)
    assert (applied.min_confidence_to_delegate, applied.reflection_confidence_threshold) == (0.1, 0.1)
    assert profiles.apply(config, profiles.choose(config, "qwen3-8b")).min_confidence_to_delegate == 0.7
    paths.config_file.write_text("reflection_confidence_threshold = 0.3\n")
    mine = Config.load(paths, watch=[watched])
    kept = profiles.apply(mine, profiles.choose(mine, "SmolLM2-135M-Instruct"))
    assert (kept.min_confidence_to_delegate, kept.reflection_confidence_threshold) == (0.7, 0.3)


def test_a_named_profile_and_your_own(paths: Paths, watched: Path) -> None:
    paths.config_file.write_text(
        'profile = "mine"\n[profiles.mine]\ntemperature = 0.05\nhonours_schema = false\n'
        '[profiles.qwen3]\nmatch = ["qwen3"]\nmax_tokens = 99\n'
    )
    config = Config.load(paths, watch=[watched])
    chosen = profiles.choose(config, "qwen3-8b")
    assert chosen is not None and (chosen.name, chosen.how) == ("mine", "configured")
    applied = profiles.apply(config, chosen)
    assert applied.temperature == 0.05 and applied.schema_dialect == "none"
    assert profiles.catalogue(config)["qwen3"].max_tokens == 99  # a shipped one, changed


def test_an_unknown_profile_or_a_bad_pattern_is_one_clear_error(paths: Paths, watched: Path, config: Config) -> None:
    with pytest.raises(ConfigError, match="no model profile named 'nope'"):
        profiles.choose(config.model_copy(update={"profile": "nope"}), "x")
    paths.config_file.write_text('[profiles.bad]\nmatch = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match=r"profiles\.bad\.match"):
        Config.load(paths, watch=[watched])


async def test_the_bundled_model_gets_its_profile_from_the_real_server(
    llama_server: EmbeddedServer, config: Config
) -> None:
    connection = await connect(config.model_copy(update={"llm_url": llama_server.url}))
    try:
        assert connection.profile is not None and connection.profile.name == "smollm2"
        assert connection.profile.how.startswith("matched")
    finally:
        await connection.aclose()


async def test_an_unknown_profile_fails_before_anything_starts(config: Config) -> None:
    with pytest.raises(ConfigError, match="no model profile"):
        await connect(config.model_copy(update={"profile": "nope", "llm_url": "http://127.0.0.1:9/v1"}))
