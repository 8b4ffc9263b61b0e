"""File events from the real watcher (watchfiles) on a real folder."""

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from conscious.model import Observation
from conscious.observe.files import FileObserver
from tests.observe.test_junit import FAILING


async def collect(observer: FileObserver, action: object, want: int, timeout: float = 10.0) -> list[Observation]:
    got: list[Observation] = []
    stream: AsyncIterator[Observation] = observer.observe()

    async def reader() -> None:
        async for obs in stream:
            got.append(obs)
            if len(got) >= want:
                return

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.5)  # let the watcher start
    action()  # type: ignore[operator]
    try:
        await asyncio.wait_for(task, timeout)
    except TimeoutError:
        pass
    finally:
        task.cancel()
        await stream.aclose()  # type: ignore[attr-defined]
    return got


async def test_created_file_is_observed(watched: Path) -> None:
    observer = FileObserver([watched], [], debounce_ms=100)
    got = await collect(observer, lambda: (watched / "app.py").write_text("print(1)\n"), want=1)
    assert got, "no event from the watcher"
    assert got[0].source == "filesystem"
    assert got[0].event_type in ("created", "modified")
    assert got[0].target == str(watched / "app.py")
    assert got[0].details["relative"] == "app.py"


async def test_gitignore_and_globs_are_honoured(watched: Path) -> None:
    (watched / ".gitignore").write_text("build/\n*.log\n")
    (watched / "build").mkdir()
    observer = FileObserver([watched], ["*.tmp"], debounce_ms=100)

    def act() -> None:
        (watched / "build" / "out.o").write_text("x")
        (watched / "debug.log").write_text("x")
        (watched / "scratch.tmp").write_text("x")
        (watched / "kept.py").write_text("x")

    got = await collect(observer, act, want=1)
    await asyncio.sleep(0)
    assert [Path(o.target).name for o in got] == ["kept.py"]


async def test_junit_report_becomes_a_test_run(watched: Path) -> None:
    observer = FileObserver([watched], [], debounce_ms=100)
    got = await collect(observer, lambda: (watched / "report.xml").write_text(FAILING), want=1)
    assert got and got[0].source == "tests" and got[0].event_type == "failed"
    assert got[0].details["failures"] == 2


async def test_a_burst_of_saves_is_debounced_into_few_events(watched: Path) -> None:
    observer = FileObserver([watched], [], debounce_ms=300)
    target = watched / "hot.py"

    def burst() -> None:
        for i in range(200):
            target.write_text(str(i))

    got = await collect(observer, burst, want=200, timeout=3.0)
    assert got, "no events"
    assert all(o.target == str(target) for o in got)
    assert len(got) < 10


async def test_our_own_journal_and_logs_inside_the_watched_folder_are_not_observed(watched: Path) -> None:
    journal = watched / "journal.db"
    observer = FileObserver([watched], [], debounce_ms=100, exclude=[journal, watched / "conscious.log"])

    def act() -> None:
        journal.write_text("x")
        (watched / "journal.db-wal").write_text("x")
        (watched / "conscious.log").write_text("x")
        (watched / "main.py").write_text("x")

    got = await collect(observer, act, want=1)
    assert [Path(o.target).name for o in got] == ["main.py"]


async def test_editor_and_tool_temp_files_are_not_observed(watched: Path) -> None:
    """A real `sed -i` (its temp file sedXXXXXX, renamed over the file), a vim-style save (swap
    file, the 4913 probe, a backup) and GLib's safe save: only the edited files are news."""
    import subprocess

    (watched / "utils.py").write_text("x = 1\n")
    observer = FileObserver([watched], [], debounce_ms=300)

    def act() -> None:
        subprocess.run(["sed", "-i", "s/1/2/", str(watched / "utils.py")], check=True)
        for scratch in (".core.py.swp", "4913", "core.py~", ".goutputstream-7YQ2E1", ".#core.py"):
            (watched / scratch).write_text("x")
        (watched / "core.py").write_text("y = 2\n")

    got = await collect(observer, act, want=10, timeout=3.0)
    assert {Path(o.target).name for o in got} == {"utils.py", "core.py"}


async def test_reports_are_seen_in_the_folders_projects_ignore_and_git_rules_hold_at_every_level(
    watched: Path,
) -> None:
    (watched / ".gitignore").write_text("reports/\nbuild/\ntarget/\n")
    (watched / ".git" / "info").mkdir(parents=True)
    (watched / ".git" / "info" / "exclude").write_text("local-notes.txt\n")
    for folder in ("reports", "build/test-results/test", "target/surefire-reports", ".pytest_cache", "pkg/gen"):
        (watched / folder).mkdir(parents=True)
    (watched / "pkg" / ".gitignore").write_text("gen/\n*.tmp\n!keep.tmp\n")
    observer = FileObserver([watched], [], debounce_ms=100)

    def act() -> None:
        (watched / "reports" / "junit.xml").write_text(FAILING)
        (watched / "build" / "test-results" / "test" / "TEST-cart.xml").write_text(FAILING)
        (watched / "target" / "surefire-reports" / "TEST-com.acme.CartTest.xml").write_text(FAILING)
        (watched / ".pytest_cache" / "junit.xml").write_text(FAILING)
        (watched / "build" / "app.o").write_text("x")  # ignored by the top .gitignore
        (watched / "pkg" / "gen" / "out.py").write_text("x")  # by the nested one
        (watched / "pkg" / "scratch.tmp").write_text("x")
        (watched / "pkg" / "keep.tmp").write_text("x")  # re-included by the nested one
        (watched / "local-notes.txt").write_text("x")  # .git/info/exclude
        (watched / "main.py").write_text("x")

    got = await collect(observer, act, want=7, timeout=4)  # one more than expected: wait for any leak
    await asyncio.sleep(0)
    reports = sorted(Path(o.target).relative_to(watched).as_posix() for o in got if o.source == "tests")
    files = sorted(Path(o.target).relative_to(watched).as_posix() for o in got if o.source == "filesystem")
    assert reports == [
        ".pytest_cache/junit.xml",
        "build/test-results/test/TEST-cart.xml",
        "reports/junit.xml",
        "target/surefire-reports/TEST-com.acme.CartTest.xml",
    ]
    assert files == ["main.py", "pkg/keep.tmp"]


async def test_a_name_that_is_not_utf8_neither_blinds_nor_kills_the_observer(watched: Path) -> None:
    """watchfiles fails a whole batch on such a name: the ordinary files beside it must still be
    seen, and the odd one too, escaped."""
    (watched / "existing.py").write_text("x")
    observer = FileObserver([watched], [], debounce_ms=100)
    bad = os.path.join(os.fsencode(watched), b"fixture-\xff\xfe.txt")

    def act() -> None:
        with open(bad, "wb") as f:
            f.write(b"latin-1 data")
        (watched / "app.py").write_text("print(1)\n")
        (watched / "existing.py").write_text("changed")

    got = await collect(observer, act, want=4, timeout=6)
    targets = {o.target: o for o in got}
    assert str(watched / "app.py") in targets and str(watched / "existing.py") in targets
    escaped = str(watched) + "/fixture-\\xff\\xfe.txt"
    assert escaped in targets and targets[escaped].details["relative"] == "fixture-\\xff\\xfe.txt"
    [note] = [o for o in got if o.source == "system"]
    assert note.event_type == "undecodable-path" and note.severity == "info"
    for obs in got:  # all of it can be journaled: text, not surrogates
        obs.model_dump_json().encode("utf-8")
        obs.target.encode("utf-8")

    # Written again and again, it costs one note, and the observer goes on seeing the rest.
    def again() -> None:
        for i in range(3):
            with open(bad, "wb") as f:
                f.write(b"more" * i)
            (watched / f"next{i}.py").write_text("x")

    more = await collect(observer, again, want=10, timeout=4)
    assert {f"next{i}.py" for i in range(3)} <= {Path(o.target).name for o in more}
