"""`conscious cluster` and `conscious status` on a host of a cluster, with a real nats-server
and a real observer process: every host is listed from any host; a broker that is down is
one line in the status, never a traceback; bad role settings are one clear line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conscious.journal import Journal
from tests.cli.test_cli import conscious, one_clear_line
from tests.cluster.conftest import NatsServer, free_port, nats_server  # noqa: F401 (a fixture)


def test_every_host_listed_from_any_host(
    nats_server: NatsServer,  # noqa: F811
    tmp_path: Path,
    watched: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update({"CONSCIOUS_HOME": str(tmp_path / "observer-home"), "CONSCIOUS_API_PORT": "0"})
    argv = [sys.executable, "-m", "conscious", "run", "--role", "observer", "--broker", nats_server.url]
    observer = subprocess.Popen(
        [*argv, "--host", "laptop", "--watch", str(watched)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        elsewhere = {"CONSCIOUS_CLUSTER__BROKER": json.dumps([nats_server.url])}
        report: dict[str, object] = {}
        for _ in range(100):
            result = conscious("cluster", "--json", home=tmp_path / "elsewhere", env=elsewhere)
            report = json.loads(result.stdout) if result.returncode == 0 else {}
            if report.get("hosts"):
                break
            time.sleep(0.2)
        hosts = report["hosts"]
        assert isinstance(hosts, list) and [h["host"] for h in hosts] == ["laptop"]
        assert hosts[0]["roles"] == ["observer"] and hosts[0]["watch"] == [str(watched)]
        assert report["leader"] is None  # no brain yet
        Journal(tmp_path / "elsewhere" / "journal.db").close()  # a host that ran before
        status = conscious("status", home=tmp_path / "elsewhere", env=elsewhere)
        assert "laptop" in status.stdout and "leader: none" in status.stdout
        # On the observer's own host (started with --broker, no config file), the same cluster.
        here = json.loads(conscious("cluster", "--json", home=tmp_path / "observer-home").stdout)
        assert [h["host"] for h in here["hosts"]] == ["laptop"]
        # And its status says what it is.
        own = json.loads(conscious("status", "--json", home=tmp_path / "observer-home").stdout)
        assert own["running"] is True and own["node"]["host"] == "laptop" and own["cluster"]["leader"] is None
        # Its metrics, for Prometheus: what it sent and what waits to be sent.
        scraped = httpx.get(own["metrics_url"]).text
        assert 'conscious_cluster_broker_connected{role="observer"} 1.0' in scraped
        assert 'conscious_cluster_outbox_backlog{role="observer"} 0.0' in scraped
    finally:
        observer.send_signal(signal.SIGINT)
        said = observer.communicate(timeout=30)[0].decode()
    assert observer.returncode == 0 and "Traceback" not in said, said


def test_a_broker_that_is_down_is_one_line_in_the_status(tmp_path: Path) -> None:
    env = {"CONSCIOUS_CLUSTER__BROKER": json.dumps([f"nats://127.0.0.1:{free_port()}"])}
    Journal(tmp_path / "journal.db").close()
    result = conscious("status", home=tmp_path, env=env)
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr
    assert "cannot reach the broker" in result.stdout
    one_clear_line(conscious("cluster", home=tmp_path, env=env), "cannot reach the broker")


def test_bad_role_settings_are_one_clear_line(tmp_path: Path, watched: Path) -> None:
    one_clear_line(conscious("cluster", home=tmp_path), "this host is in no cluster")
    one_clear_line(conscious("run", "--role", "observer", "--watch", str(watched), home=tmp_path), "need a broker")
    one_clear_line(
        conscious("run", "--role", "boss", "--broker", "nats://127.0.0.1:1", "--watch", str(watched), home=tmp_path),
        "--role",
    )
    both = ["--role", "brain", "--role", "worker", "--broker", "nats://127.0.0.1:1", "--watch", str(watched)]
    one_clear_line(conscious("run", *both, home=tmp_path), "cannot share one process")
