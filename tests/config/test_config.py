from pathlib import Path

import pytest

from conscious.config import Config
from conscious.errors import ConfigError
from conscious.paths import Paths


def test_home_flag_beats_env_beats_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSCIOUS_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    xdg = Paths.resolve()
    assert xdg.journal == tmp_path / "data" / "conscious" / "journal.db"
    assert xdg.config_file == tmp_path / "config" / "conscious" / "config.toml"
    assert xdg.log_file == tmp_path / "state" / "conscious" / "conscious.log"
    monkeypatch.setenv("CONSCIOUS_HOME", str(tmp_path / "env"))
    assert Paths.resolve().journal == tmp_path / "env" / "journal.db"
    assert Paths.resolve(tmp_path / "flag").journal == tmp_path / "flag" / "journal.db"


def test_defaults_are_the_seeds(paths: Paths, watched: Path) -> None:
    c = Config.load(paths, watch=[watched])
    assert (c.temperature, c.top_p, c.top_k, c.max_tokens) == (0.7, 0.9, 40, 500)
    assert (c.min_confidence_to_delegate, c.reflection_confidence_threshold) == (0.7, 0.5)
    assert c.reserve_tokens == 512
    assert c.claude_code.permission_mode != "bypassPermissions"


def test_file_then_env_then_flags(paths: Paths, watched: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths.config_file.write_text(
        f'temperature = 0.2\nmax_tokens = 300\nwatch = ["{watched}"]\n[claude_code]\nmax_turns = 5\n'
    )
    monkeypatch.setenv("CONSCIOUS_MAX_TOKENS", "250")
    monkeypatch.setenv("CONSCIOUS_CLAUDE_CODE__PERMISSION_MODE", "plan")
    c = Config.load(paths, model="flag-model")
    assert c.temperature == 0.2
    assert c.max_tokens == 250
    assert c.model == "flag-model"
    assert c.claude_code.max_turns == 5 and c.claude_code.permission_mode == "plan"
    assert c.watch == [watched]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("temperature = = 1", "not valid TOML"),
        ("temperature = 'hot'", "temperature"),
        ("no_such_setting = 1", "no_such_setting"),
        ("min_confidence_to_delegate = 0.2", "thresholds"),
    ],
)
def test_a_broken_config_is_one_clear_error(paths: Paths, watched: Path, content: str, needle: str) -> None:
    paths.config_file.write_text(content)
    with pytest.raises(ConfigError) as info:
        Config.load(paths, watch=[watched])
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_watch_path_and_model_file(paths: Paths, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="watch path does not exist"):
        Config.load(paths, watch=[tmp_path / "nope"])
    with pytest.raises(ConfigError, match="model file not found"):
        Config.load(paths, watch=[tmp_path], model_path=tmp_path / "missing.gguf")


@pytest.mark.parametrize(
    ("line", "key", "allowed"),
    [
        ("observation_interval = -5.0", "observation_interval = -5.0", "greater than 0"),
        ("heartbeat_interval = -1.0", "heartbeat_interval = -1.0", "greater than or equal to 0"),
        ("request_timeout = 0", "request_timeout = 0", "greater than 0"),
        ("api_port = 70000", "api_port = 70000", "less than or equal to 65535"),
        ("min_confidence_to_delegate = 1.5", "min_confidence_to_delegate = 1.5", "less than or equal to 1"),
        ("batch_max = 0", "batch_max = 0", "greater than or equal to 1"),
        ("task_timeout = nan", "task_timeout", "finite number"),
        ("[cluster]\nlease_s = -3", "cluster.lease_s = -3", "greater than 0"),
        ("[budgets.claude-code]\nmax_spend_usd_per_day = -1", "budgets.claude-code.max_spend_usd_per_day = -1", "0"),
    ],
)
def test_a_value_out_of_its_range_is_one_line_naming_key_value_and_range(
    paths: Paths, watched: Path, line: str, key: str, allowed: str
) -> None:
    paths.config_file.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        Config.load(paths, watch=[watched])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"invalid setting {key} ") and allowed in message


def test_every_interval_and_count_of_the_config_carries_its_range() -> None:
    """No numeric setting is left as a bare int or float: each says what it allows."""
    from conscious.config.sections import AgentBudget, ApprovalConfig, ClaudeCodeConfig, ClusterConfig, Profile

    for model in (Config, AgentBudget, ApprovalConfig, ClaudeCodeConfig, ClusterConfig, Profile):
        for name, field in model.model_fields.items():
            if field.annotation in (int, float, int | None, float | None):
                assert field.metadata, f"{model.__name__}.{name} has no range"
