"""Processes as real subprocesses, seen through psutil."""

import signal
import subprocess
import sys
import time
import uuid

from conscious.observe.processes import ProcessObserver


def test_started_stopped_resumed_and_vanished_are_observed() -> None:
    marker = f"conscious-test-{uuid.uuid4().hex}"
    observer = ProcessObserver([marker], cpu_threshold=1000, memory_threshold_mb=1e9)
    assert observer.poll(first=True) == []
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        started = observer.poll()
        assert [(o.event_type, o.details["pid"]) for o in started] == [("started", proc.pid)]
        assert observer.poll() == []  # nothing new while it runs
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        assert [o.event_type for o in observer.poll()] == ["stopped"]
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.2)
        assert [o.event_type for o in observer.poll()] == ["resumed"]
    finally:
        proc.kill()
        proc.wait()
    assert observer.poll() == []  # gone: said at the next poll, unless it is back by then
    exited = observer.poll()
    assert [(o.event_type, o.severity) for o in exited] == [("vanished", "warning")]


def test_a_process_back_under_the_same_command_is_a_restart_not_a_crash() -> None:
    marker = f"conscious-restart-{uuid.uuid4().hex}"
    observer = ProcessObserver([marker], cpu_threshold=1000, memory_threshold_mb=1e9)
    argv = [sys.executable, "-c", "import time; time.sleep(30)", marker]
    first = subprocess.Popen(argv)
    second = None
    try:
        assert [o.event_type for o in observer.poll()] == ["started"]
        first.kill()
        first.wait()
        assert observer.poll() == []  # gone; a supervisor restarts it before the next poll
        second = subprocess.Popen(argv)
        [back] = observer.poll()
        assert (back.event_type, back.severity) == ("restarted", "info")
        assert (back.details["pid"], back.details["previous_pid"]) == (second.pid, first.pid)
        assert observer.poll() == []  # no vanish said late
    finally:
        for p in (first, second):
            if p is not None:
                p.kill()
                p.wait()


def test_cpu_over_threshold_is_reported_once_per_crossing() -> None:
    marker = f"conscious-busy-{uuid.uuid4().hex}"
    observer = ProcessObserver([marker], cpu_threshold=20, memory_threshold_mb=1e9)
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass", marker])
    try:
        observer.poll()
        events: list[str] = []
        for _ in range(10):
            subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3)"], check=True)
            events += [o.event_type for o in observer.poll()]
            if "cpu-high" in events:
                break
        assert events.count("cpu-high") == 1
    finally:
        proc.kill()
        proc.wait()
