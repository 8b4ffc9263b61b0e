from conscious.think.context import MESSAGE_OVERHEAD, ContextWindow, Turn


def window(budget: int = 1000) -> ContextWindow:
    return ContextWindow("system", 100, budget)


def exchange(w: ContextWindow, n: int, tokens: int = 50) -> list[Turn]:
    evicted: list[Turn] = []
    for i in range(n):
        evicted += w.add(Turn("user", f"u{i}", tokens))
        evicted += w.add(Turn("assistant", f"a{i}", tokens))
    return evicted


def test_system_prompt_is_always_first_and_turns_alternate() -> None:
    w = window()
    exchange(w, 3)
    msgs = w.messages()
    assert msgs[0] == {"role": "system", "content": "system"}
    assert [m["role"] for m in msgs[1:]] == ["user", "assistant"] * 3


def test_prompt_only_grows_at_its_end_until_the_high_water_mark() -> None:
    w = window()
    previous = w.messages()
    for i in range(5):
        w.add(Turn("user", f"u{i}", 40))
        w.add(Turn("assistant", f"a{i}", 40))
        now = w.messages()
        assert now[: len(previous)] == previous  # the old prompt is a prefix of the new one
        previous = now


def test_compaction_happens_once_down_to_the_low_water_mark() -> None:
    w = window(1000)
    evicted = exchange(w, 20)
    assert evicted, "the window must have compacted"
    assert w.used <= 0.85 * w.budget
    assert w.messages()[1]["role"] == "user"
    # Compaction is a step, not a trickle: between compactions several turns were added
    # without any eviction.
    w2 = window(1000)
    evictions = [len(exchange(w2, 1)) for _ in range(20)]
    assert sum(1 for e in evictions if e) < 10


def test_evicted_turns_are_oldest_first() -> None:
    w = window(600)
    evicted = exchange(w, 10)
    assert [t.content for t in evicted[:2]] == ["u0", "a0"]


def test_used_counts_system_turns_and_overhead() -> None:
    w = window()
    w.add(Turn("user", "x", 10))
    assert w.used == 100 + MESSAGE_OVERHEAD + 10 + MESSAGE_OVERHEAD


def test_pop_last_takes_back_an_unanswered_turn() -> None:
    w = window()
    w.add(Turn("user", "x", 10))
    assert w.pop_last() is not None
    assert w.turns == []


def test_the_turn_awaiting_its_answer_is_never_evicted() -> None:
    w = ContextWindow("system", 100, 400)
    w.add(Turn("user", "big question", 150))
    evicted = w.add(Turn("assistant", "big answer", 150))
    assert [t.content for t in w.turns] == ["big question", "big answer"]
    assert evicted == []
    evicted = w.add(Turn("user", "next", 150))
    assert [t.content for t in evicted] == ["big question", "big answer"]
    assert [t.content for t in w.turns] == ["next"]
