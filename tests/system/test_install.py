"""A hint to add an extra names a command that works for this installation as it was made."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from conscious.system.install import adding

ROOT = Path(__file__).resolve().parents[2]


def test_the_hint_installs_from_the_folder_this_was_installed_from_into_this_environment() -> None:
    hint = adding("embedded")
    argv = shlex.split(hint)
    assert argv[:4] == [sys.executable, "-m", "pip", "install"]
    assert argv[-1] == f"{ROOT}[embedded]"  # the checkout, not a name the index does not have
    # pip reads it as a requirement it can resolve (a dry run: nothing is installed)
    done = subprocess.run(
        [*argv[:4], "--dry-run", "--no-deps", "--quiet", *argv[4:]], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
