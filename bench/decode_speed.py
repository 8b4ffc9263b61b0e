"""How the embedded model's decode speed falls as the context fills (CPU, bundled SmolLM2).

    python bench/decode_speed.py [--sizes 0,20,60,120]

For each window size (number of prior turns of realistic length), one warm-up request
fills the server's cache, then a second identical request measures decode only (prompt
fully cached). Figures are llama-server's own timings.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from conscious.think.backends.base import Limits, Message, Usage
from conscious.think.backends.bundled import bundled_model
from conscious.think.backends.embedded import EmbeddedServer, find_llama_server
from conscious.think.backends.openai_compat import OpenAICompatBackend
from conscious.think.decision import DECISION_SCHEMA
from conscious.think.prompt import default_system_prompt

REPLY = (
    '{"action_type":"observe","reasoning":"routine edit","target_agent":null,"command":null,'
    '"priority":"low","confidence":0.9,"metadata":{"expected_outcome":"none"}}'
)


def messages(turns: int) -> list[Message]:
    out: list[Message] = [{"role": "system", "content": default_system_prompt()}]
    for i in range(turns // 2):
        out.append(
            {"role": "user", "content": f"[turn {i}]\n1 observation(s):\n1. [INFO] filesystem/modified src/m{i}.py"}
        )
        out.append({"role": "assistant", "content": REPLY})
    out.append({"role": "user", "content": "1. [ERROR] tests/failed report.xml\nRespond with one JSON decision."})
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="0,20,60,120")
    args = ap.parse_args()
    log = Path(tempfile.mkdtemp()) / "llama-server.log"
    server = EmbeddedServer(binary=find_llama_server(), model=bundled_model(), context_length=8192, log_file=log)
    await server.start()
    backend = OpenAICompatBackend(server.url)
    limits = Limits(max_tokens=120, temperature=0.7, extra={"repeat_penalty": 1.1})
    print("turns  prompt tokens  decode tok/s  (schema-constrained, prompt cached)")
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            msgs = messages(size)
            usage = Usage()
            for _ in range(2):  # the first fills the cache
                async for item in backend.stream(msgs, DECISION_SCHEMA, limits):
                    if isinstance(item, Usage):
                        usage = item
            rate = (usage.completion_tokens or 0) / ((usage.predicted_ms or 1) / 1000)
            print(f"{size:5d}  {usage.prompt_tokens or 0:13d}  {rate:12.1f}")
    finally:
        await backend.aclose()
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
