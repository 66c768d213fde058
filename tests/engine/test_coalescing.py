"""Delta coalescer: first chunk at once, then at most one flush per window, remainder at the end."""

from __future__ import annotations

from engine.coalescing import DeltaCoalescer, Flush


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_flush_timing_with_fake_clock():
    clock = FakeClock()
    sent: list[tuple[int, str]] = []
    c = DeltaCoalescer(lambda o, t: sent.append((o, t)), window_ms=40, clock=clock)

    assert c.feed("Hel") == Flush(0, "Hel")  # first chunk goes out at once
    clock.now += 0.010
    assert c.feed("lo") is None
    clock.now += 0.020
    assert c.feed(" wo") is None  # 30 ms since the last flush
    clock.now += 0.010
    assert c.feed("rld") == Flush(3, "lo world")  # 40 ms: one frame with everything pending
    clock.now += 0.039
    assert c.feed("!") is None
    assert c.finish() == Flush(11, "!")
    assert c.finish() is None
    assert sent == [(0, "Hel"), (3, "lo world"), (11, "!")]
    assert "".join(t for _, t in sent) == "Hello world!"
    assert c.sent == 12 and c.flushes == 3


def test_many_fast_tokens_become_few_frames():
    clock = FakeClock()
    sent: list[tuple[int, str]] = []
    c = DeltaCoalescer(lambda o, t: sent.append((o, t)), window_ms=40, clock=clock)
    for i in range(100):  # 100 tokens at 5 ms apart = 500 ms
        c.feed(f"t{i} ")
        clock.now += 0.005
    c.finish()
    assert 12 <= len(sent) <= 14  # ~1 + 500/40, not 100
    text = "".join(f"t{i} " for i in range(100))
    assert "".join(t for _, t in sent) == text
    offsets = [o for o, _ in sent]
    assert offsets == [sum(len(t) for _, t in sent[:i]) for i in range(len(sent))]


def test_empty_chunks_do_not_flush_or_consume_window():
    clock = FakeClock()
    c = DeltaCoalescer(window_ms=40, clock=clock)
    assert c.feed("") is None
    assert c.feed("a") == Flush(0, "a")
    assert c.finish() is None


def test_zero_window_flushes_every_chunk():
    clock = FakeClock()
    c = DeltaCoalescer(window_ms=0, clock=clock)
    assert [c.feed(x) for x in "abc"] == [Flush(0, "a"), Flush(1, "b"), Flush(2, "c")]
