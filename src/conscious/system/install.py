"""How this very installation of conscious was made, so that a hint to add to it names a
command that works as printed: the folder it was installed from (the distribution is not on
PyPI under a name of its own), with pipx when pipx made it."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from urllib.parse import unquote, urlparse

DISTRIBUTION = "conscious-orchestrator"


def adding(extra: str) -> str:
    """A command that installs ``extra`` into this installation."""
    spec, editable = f"<the conscious folder>[{extra}]", False
    try:
        direct = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct = None
    if direct:
        info = json.loads(direct)
        url = urlparse(str(info.get("url", "")))
        if url.scheme == "file":
            spec = f"{unquote(url.path)}[{extra}]"
            editable = bool(info.get("dir_info", {}).get("editable"))
    if "/pipx/venvs/" in sys.prefix.replace("\\", "/"):
        return f"pipx install --force '{spec}'"
    return f"{sys.executable} -m pip install {'-e ' if editable else ''}'{spec}'"
