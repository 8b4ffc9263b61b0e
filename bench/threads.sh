#!/bin/bash
# Per-decision latency of the embedded server by thread count, idle and beside one busy core.
cd "$(dirname "$0")/.."
head -12 src/conscious/eval/default_suite.jsonl > /tmp/suite12.jsonl
export CONSCIOUS_HOME=$(mktemp -d) CONSCIOUS_PROBE_LMSTUDIO=false
for load in idle busy; do
  if [ $load = busy ]; then yes > /dev/null & YES=$!; fi
  for t in 1 2; do
    p50=$(CONSCIOUS_EMBEDDED_THREADS=$t .venv/bin/conscious eval /tmp/suite12.jsonl --json 2>/dev/null | tail -1 | .venv/bin/python -c "import json,sys; d=json.load(sys.stdin)['summary']; print(round(d['p50_ms']), round(d['p90_ms']), d['model_calls'])")
    echo "$load threads=$t p50/p90/calls: $p50"
  done
  [ $load = busy ] && kill $YES
done
