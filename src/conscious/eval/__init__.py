"""Measuring decisions: ``conscious eval`` (scenario suites, scored) and ``conscious replay``
(a recorded workload through the real loop)."""
