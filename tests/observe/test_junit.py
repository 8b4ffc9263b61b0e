from pathlib import Path

from conscious.observe.junit import parse_junit

FAILING = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="2" skipped="1" tests="5" time="1.25">
<testcase classname="tests.test_core" name="test_ok" time="0.1"/>
<testcase classname="tests.test_core" name="test_add" time="0.1"><failure message="assert 3 == 4">trace</failure></testcase>
<testcase classname="tests.test_core" name="test_sub" time="0.1"><failure message="AssertionError: boom">t</failure></testcase>
<testcase classname="tests.test_io" name="test_skip" time="0.0"><skipped message="no"/></testcase>
<testcase classname="tests.test_io" name="test_read" time="0.1"/>
</testsuite></testsuites>"""


def test_failing_report_becomes_one_error_observation(tmp_path: Path) -> None:
    path = tmp_path / "report.xml"
    path.write_text(FAILING)
    obs = parse_junit(path)
    assert obs is not None
    assert (obs.source, obs.event_type, obs.severity) == ("tests", "failed", "error")
    assert obs.details["tests"] == 5 and obs.details["failures"] == 2 and obs.details["skipped"] == 1
    assert obs.details["passed"] == 2
    assert obs.details["first_failures"][0] == {"test": "tests.test_core.test_add", "message": "assert 3 == 4"}


def test_passing_single_suite(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text('<testsuite tests="1" failures="0"><testcase name="t"/></testsuite>')
    obs = parse_junit(path)
    assert obs is not None and obs.event_type == "passed" and obs.severity == "info"


def test_other_xml_and_broken_xml_are_not_reports(tmp_path: Path) -> None:
    (tmp_path / "pom.xml").write_text("<project/>")
    (tmp_path / "bad.xml").write_text("<testsuite><testcase")
    assert parse_junit(tmp_path / "pom.xml") is None
    assert parse_junit(tmp_path / "bad.xml") is None
    assert parse_junit(tmp_path / "missing.xml") is None


def test_nested_suites_count_each_testcase_once(tmp_path: Path) -> None:
    path = tmp_path / "TEST-all.xml"
    path.write_text(
        '<testsuites><testsuite name="outer" time="3.0">'
        '<testsuite name="a" time="1.0"><testcase name="t1"/><testcase name="t2"><failure message="x"/></testcase>'
        "</testsuite>"
        '<testsuite name="b" time="2.0"><testsuite name="b1" time="2.0"><testcase name="t3"/></testsuite></testsuite>'
        "</testsuite></testsuites>"
    )
    obs = parse_junit(path)
    assert obs is not None
    assert (obs.details["tests"], obs.details["failures"], obs.details["passed"]) == (3, 1, 2)
    assert obs.details["time_s"] == 3.0
