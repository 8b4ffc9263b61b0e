"""Candidates composed from the evidence: complete delegations that quote what was observed,
observe and reflect always last, and the user's own words verbatim."""

from __future__ import annotations

from conscious.config import CandidatePattern
from conscious.model import Observation
from conscious.think.candidates import candidates

AGENTS = ("claude-code", "claude-flow", "memory")
ROOT = "/home/dev/app"


def failing_report(failures: int = 2, tests: tuple[str, ...] = ("tests.test_cart.test_total",)) -> Observation:
    return Observation(
        source="tests",
        event_type="failed",
        target=f"{ROOT}/reports/junit.xml",
        severity="error",
        details={
            "tests": 40,
            "failures": failures,
            "errors": 0,
            "first_failures": [{"test": t, "message": "AssertionError: assert 41 == 42"} for t in tests],
        },
    )


def request(text: str) -> Observation:
    return Observation(source="user", event_type="request", target="inbox", details={"text": text})


def test_failing_tests_become_a_delegation_naming_the_tests_and_their_messages() -> None:
    first, observe, reflect = candidates([failing_report()], agents=AGENTS, roots=[ROOT])
    assert (first.id, first.action_type, first.target_agent, first.priority) == ("A", "delegate", "claude-code", "high")
    assert first.command is not None
    assert "2 of 40 tests fail in reports/junit.xml" in first.command
    assert "tests.test_cart.test_total: AssertionError: assert 41 == 42" in first.command
    assert "re-run" in first.command
    assert (observe.id, observe.action_type, reflect.id, reflect.action_type) == ("B", "observe", "C", "reflect")


def test_the_users_words_go_verbatim_to_the_agent_that_fits() -> None:
    words = "Add a --dry-run flag to `acme sync` in src/acme/cli/sync.py"
    [code, _, _] = candidates([request(words)], agents=AGENTS)
    assert (code.target_agent, code.command) == ("claude-code", words)
    memory, code2, _, _ = candidates([request("Remember that staging is read-only")], agents=AGENTS)
    assert (memory.target_agent, code2.target_agent) == ("memory", "claude-code")
    big = "Migrate every service under services/ from Express to Fastify, one PR per service"
    code3, flow, _, _ = candidates([request(big)], agents=AGENTS)
    assert (code3.target_agent, flow.target_agent, flow.command) == ("claude-code", "claude-flow", big)


def test_only_allowed_agents_are_offered() -> None:
    options = candidates([request("Remember the release is on Friday")], agents=("claude-code",))
    assert [o.target_agent for o in options] == ["claude-code", None, None]


def test_a_failed_task_is_retried_with_its_error_unless_running_it_again_cannot_help() -> None:
    failed = Observation(
        source="agent",
        event_type="timeout",
        target="claude-code#4",
        severity="error",
        details={"agent": "claude-code", "command": "Fix the flaky test", "result": "killed after 1800s"},
    )
    [retry, _, _] = candidates([failed], agents=AGENTS)
    assert retry.command is not None and retry.command.startswith(
        "Fix the flaky test (the last attempt ran out of time"
    )
    logged_out = failed.model_copy(
        update={"event_type": "failed", "details": {**failed.details, "result": "Invalid API key · Please run /login"}}
    )
    assert [o.action_type for o in candidates([logged_out], agents=AGENTS)] == ["observe", "reflect"]


def test_routine_batches_offer_only_observe_first_then_reflect() -> None:
    saved = Observation(source="filesystem", event_type="modified", target=f"{ROOT}/README.md")
    options = candidates([saved], agents=AGENTS, roots=[ROOT])
    assert [(o.id, o.action_type) for o in options] == [("A", "observe"), ("B", "reflect")]
    assert options[1].command is not None and "README.md" in options[1].command


def test_failures_across_many_modules_offer_claude_flow_and_higher_priority_comes_first() -> None:
    report = failing_report(12, ("a.test_x.t1", "b.test_y.t2", "c.test_z.t3"))
    vanished = Observation(source="process", event_type="vanished", target="uvicorn[12]", severity="warning")
    options = candidates([vanished, report], agents=AGENTS, roots=[ROOT])
    assert [(o.target_agent, o.priority) for o in options[:3]] == [
        ("claude-code", "high"),
        ("claude-flow", "high"),
        ("claude-code", "medium"),
    ]
    assert options[1].command == (
        "12 tests fail in reports/junit.xml (the first in a.test_x, b.test_y, c.test_z)."
        " Coordinate the fixes across modules and re-run the whole suite."
    )


def test_many_failures_in_two_modules_are_not_called_three_modules() -> None:
    report = failing_report(46, ("tests.test_encoding.test_a", "tests.test_signer.test_b"))
    [flow] = [o for o in candidates([report], agents=AGENTS, roots=[ROOT]) if o.target_agent == "claude-flow"]
    assert flow.command is not None and flow.command.startswith(
        "46 tests fail in reports/junit.xml (the first in tests.test_encoding, tests.test_signer)."
    )


def test_user_patterns_add_candidates_with_the_evidence_filled_in() -> None:
    pattern = CandidatePattern(
        name="migrations",
        source="filesystem",
        path="migrations/*.sql",
        agent="claude-code",
        priority="medium",
        command="Review the new migration {path} for locking problems",
    )
    created = Observation(source="filesystem", event_type="created", target=f"{ROOT}/migrations/0042_add_index.sql")
    other = Observation(source="filesystem", event_type="created", target=f"{ROOT}/src/app.py")
    first, *_ = candidates([created], agents=AGENTS, roots=[ROOT], patterns=[pattern])
    assert first.command == "Review the new migration migrations/0042_add_index.sql for locking problems"
    assert [o.action_type for o in candidates([other], agents=AGENTS, roots=[ROOT], patterns=[pattern])] == [
        "observe",
        "reflect",
    ]


def test_never_more_than_eight_options() -> None:
    many = [request(f"Fix bug number {i} in module {i}") for i in range(20)]
    options = candidates(many, agents=AGENTS)
    assert len(options) == 8 and [o.action_type for o in options[-2:]] == ["observe", "reflect"]


def test_after_a_reflection_the_same_delegations_are_offered_and_the_question_not_nested() -> None:
    reflection = Observation(
        source="self",
        event_type="reflection",
        target="What do we know about: tests/failed reports/junit.xml",
        details={
            "recalled": "nothing related in the journal",
            "proposals": [
                {
                    "agent": "claude-code",
                    "command": "2 of 40 tests fail. Fix them.",
                    "priority": "high",
                    "basis": "the failing tests",
                }
            ],
        },
    )
    fix, observe, reflect = candidates([reflection], agents=AGENTS, roots=[ROOT])
    assert observe.action_type == "observe"
    assert (fix.target_agent, fix.command, fix.priority) == ("claude-code", "2 of 40 tests fail. Fix them.", "high")
    # On what grounds it was offered stays with it (it is what the window keeps of the choice).
    assert fix.basis == "the failing tests, offered before reflecting"
    assert reflect.command == "What do we know about: tests/failed reports/junit.xml"


def test_agents_the_user_defined_may_take_a_request_too() -> None:
    options = candidates([request("run the tests of calc")], agents=(*AGENTS, "helper"))
    assert [(o.target_agent, o.command) for o in options[:2]] == [
        ("claude-code", "run the tests of calc"),
        ("helper", "run the tests of calc"),
    ]


def test_quoted_evidence_names_no_path_the_gate_would_refuse_but_the_users_words_stay_verbatim() -> None:
    from conscious.gate.policy import Policy

    policy = Policy(roots=(ROOT,))
    crashed = Observation(
        source="system",
        event_type="crashed",
        target="worker",
        severity="error",
        details={"error": f'File "/usr/lib/python3.11/json/decoder.py", line 3, in decode\n  File "{ROOT}/app/io.py"'},
    )
    vanished = Observation(
        source="process", event_type="vanished", target="gunicorn", details={"cmdline": "/usr/bin/python3 -m gunicorn"}
    )
    failed = Observation(
        source="agent",
        event_type="failed",
        target="claude-code#4",
        severity="error",
        details={
            "agent": "claude-code",
            "command": "Fix app/io.py",
            "result": "could not start: '/home/dev/.local/state/conscious/worktrees/task-4' is missing; see ../../etc",
        },
    )
    report = failing_report()
    report.details["first_failures"][0]["message"] = f"FileNotFoundError: {ROOT}/data/in.csv and /tmp/x/out.csv"
    commands = {}
    for obs in (crashed, vanished, failed, report):
        [c] = [c for c in candidates([obs], agents=AGENTS, roots=[ROOT]) if c.action_type == "delegate"]
        assert c.command is not None and policy.outside_roots(c.command) is None, c.command
        commands[obs.source] = c.command
    assert '…/decoder.py", line 3' in commands["system"] and "app/io.py" in commands["system"]
    assert "(…/python3 -m gunicorn)" in commands["process"]
    assert commands["agent"].startswith("Fix app/io.py (the last attempt failed: could not start: '…/task-4'")
    assert "see …/etc" in commands["agent"]
    assert "data/in.csv and …/out.csv" in commands["tests"]
    # The user's own words are handed over as they are; the gate, not the candidate, refuses them.
    verbatim = candidates([request("copy /etc/hosts here")], agents=AGENTS, roots=[ROOT])[0]
    assert verbatim.command == "copy /etc/hosts here" and policy.outside_roots(verbatim.command) == "/etc/hosts"


def test_a_retry_of_a_retry_asks_for_the_task_as_first_given_with_only_the_latest_failure() -> None:
    def failed(command: str, task_id: int) -> Observation:
        details = {"agent": "claude-code", "command": command, "result": "simulated error", "task_id": task_id}
        return Observation(source="agent", event_type="failed", target=f"claude-code#{task_id}", details=details)

    first = "fix base64_decode in src/itsdangerous/encoding.py"
    [retry] = [c for c in candidates([failed(first, 1)], agents=AGENTS) if c.action_type == "delegate"]
    assert retry.command == f"{first} (the last attempt failed: simulated error; take another approach)"
    assert retry.continues == 1
    [again] = [c for c in candidates([failed(retry.command, 2)], agents=AGENTS) if c.action_type == "delegate"]
    # The same command: the gate's retry cap and dedup window see it for what it is.
    assert again.command == retry.command and again.continues == 2


def test_severe_evidence_of_a_kind_the_catalogue_does_not_know_offers_an_investigation() -> None:
    shapes = [
        Observation(
            source="kernel",
            event_type="oom-kill",
            target="gunicorn",
            severity="critical",
            details={"rss_mb": 7900, "pid": 4242},
        ),
        Observation(
            source="ci",
            event_type="build-broken",
            target=f"{ROOT}/Makefile",
            severity="error",
            details={"error": "make: *** [all] Error 2"},
        ),
        Observation(source="systemd", event_type="crash-loop", target="api.service", severity="critical"),
    ]
    for obs in shapes:
        first, *_ = candidates([obs], agents=AGENTS, roots=[ROOT])
        assert (first.action_type, first.target_agent) == ("delegate", "claude-code"), obs
        assert first.priority == ("critical" if obs.severity == "critical" else "high")
        assert first.command is not None and obs.event_type in first.command
        assert ROOT not in first.command  # paths as the gate reads them
    oom = candidates([shapes[0]], agents=AGENTS, roots=[ROOT])[0]
    assert oom.command is not None and "7900" in oom.command and "4242" not in oom.command


def test_the_loops_own_troubles_and_warnings_offer_no_investigation() -> None:
    for obs in [
        Observation(source="system", event_type="llm-unavailable", target="http://x", severity="error"),
        Observation(source="system", event_type="health", target="daemon", severity="error"),
        Observation(source="policy", event_type="refused", target="decision#1", severity="error"),
        Observation(source="kernel", event_type="oom-kill", target="gunicorn", severity="warning"),
    ]:
        assert [c.action_type for c in candidates([obs], agents=AGENTS, roots=[ROOT])] == ["observe", "reflect"], obs


def test_chit_chat_goes_to_no_agent_and_notes_go_to_memory_first() -> None:
    for words in (
        "thanks!",
        "Thank you :)",
        "ok",
        "hi conscious",
        "how is it going?",
        "LGTM 👍",
        "thanks, that's great!",
        "Thank you so much — it works now 🎉",
    ):
        assert [c.action_type for c in candidates([request(words)], agents=AGENTS)] == ["observe", "reflect"], words
    for words in (
        "note: we use uv, not pip",
        "note for later: the storefront is deployed by hand",
        "FYI: the staging DB is read-only",
        "we always use tabs in Makefiles",
        "what did we decide about the cache?",
        "from now on, run the linters before committing",
    ):
        first = candidates([request(words)], agents=AGENTS)[0]
        assert (first.target_agent, first.command) == ("memory", words), words
    # An ask that merely starts politely is still an ask.
    first = candidates([request("thanks — now please fix the flaky upload test")], agents=AGENTS)[0]
    assert first.target_agent == "claude-code"


def test_questions_the_journal_answers_and_vague_asks_go_to_no_paid_agent() -> None:
    for words in (
        "what did we decide about the cache?",
        "did we ever fix the flaky upload test?",
        "what is running right now?",
        "what are you working on?",
        "what are the agents working on right now?",
        "What is claude doing?",
        "What happened overnight?",
        "when did the nightly build last fail?",
    ):
        offered = candidates([request(words)], agents=AGENTS)
        assert [(c.target_agent, c.command) for c in offered if c.action_type == "delegate"] == [("memory", words)], (
            words
        )
    for words in ("make it better", "Fix it!", "please improve things", "clean up", "help", "go ahead please"):
        offered = candidates([request(words)], agents=AGENTS)
        delegations = [(c.target_agent, c.command) for c in offered if c.action_type == "delegate"]
        assert delegations == [("memory", f"clarify: {words}")], words
    # A question that asks for work is still work; so is an ask that names what to change.
    for words in (
        "why does the upload test fail?",
        "make the upload test pass",
        "fix it in src/upload.py",
        "what is the cache doing wrong in upload()?",
    ):
        assert candidates([request(words)], agents=AGENTS)[0].target_agent == "claude-code", words


def test_a_watched_command_that_failed_is_delegated_with_its_exit_code_and_output() -> None:
    from conscious.observe.command import ended

    tail = ["collected 40 items", "FAILED tests/test_cart.py::test_total - assert 41 == 42", "1 failed, 39 passed"]
    failed = ended(["pytest", "-q"], 1, tail, 3.2, ROOT)
    first = candidates([failed], agents=AGENTS, roots=[ROOT])[0]
    assert (first.target_agent, first.priority) == ("claude-code", "high")
    assert first.command is not None and first.command.startswith("`pytest -q` exited with code 1; its output ended")
    assert "assert 41 == 42" in first.command
    fine = ended(["pytest", "-q"], 0, ["40 passed"], 3.0, ROOT)
    assert (fine.event_type, fine.severity) == ("exited", "info")
    assert [c.action_type for c in candidates([fine], agents=AGENTS, roots=[ROOT])] == ["observe", "reflect"]
