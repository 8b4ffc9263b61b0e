"""docs/reference.md is what the code says: every setting and every command, made by
`conscious reference`; a setting or an option added without its doc shows here."""

from __future__ import annotations

from pathlib import Path

from conscious.cli.commands import app  # every command registered
from conscious.cli.reference import render
from conscious.config import Config

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_the_reference_is_the_code_s() -> None:
    assert app is not None
    assert REFERENCE.read_text() == render(), "regenerate it: conscious reference > docs/reference.md"


def test_every_setting_and_command_is_in_it() -> None:
    text = render()
    for name in Config.model_fields:
        assert f"`{name}`" in text or f"[{name}]" in text, name
    for command in ("conscious tell", "conscious run", "conscious model fetch", "conscious service install"):
        assert f"### `{command}`" in text, command
