"""Speed is measured as a person uses a model: one text at a time and in batches of 32, models interleaved."""
from __future__ import annotations

import torch

from distill.evaluate import SPEED_WARMUP, measure_speeds


def test_it_times_batch_one_and_batch_32_interleaved_round_by_round() -> None:
    torch.manual_seed(0)
    calls: list[tuple[str, int]] = []
    small, large = torch.nn.Linear(8, 2), torch.nn.Linear(8, 2)

    def named(name: str, layer: torch.nn.Module):
        def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            calls.append((name, ids.shape[0]))
            return layer(ids.float())  # (B, 2)
        return forward

    singles = [(torch.randn(1, 8), torch.ones(1, 8)) for _ in range(5)]
    batches = [(torch.randn(32, 8), torch.ones(32, 8))]
    speeds = measure_speeds({"teacher": (named("teacher", large), singles, batches),
                             "student": (named("student", small), singles, batches)}, torch.device("cpu"), "off",
                            rounds=2)

    timed = calls[2 * SPEED_WARMUP:]  # after each model's warm-up
    one_round = [(name, size) for name in ("teacher", "student") for size in [1] * 5 + [32]]
    assert timed == one_round * 2  # teacher, student, teacher, student: a burst of load hits both
    for speed in speeds.values():
        assert 0 < speed.latency_p50_ms <= speed.latency_p95_ms
        assert speed.samples_per_second > 0


def test_it_stops_after_one_round_when_a_round_outlasts_the_budget() -> None:
    calls: list[int] = []

    def slow(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        calls.append(ids.shape[0])
        return ids.float()

    singles = [(torch.ones(1, 4), torch.ones(1, 4)) for _ in range(3)]
    batches = [(torch.ones(32, 4), torch.ones(32, 4))]
    measure_speeds({"teacher": (slow, singles, batches)}, torch.device("cpu"), "off", rounds=3, budget_s=0.0)
    assert len(calls) == SPEED_WARMUP + 4  # the warm-up, then one round of 3 singles and 1 batch: no second round

    calls.clear()
    measure_speeds({"teacher": (slow, singles, batches)}, torch.device("cpu"), "off", rounds=3, budget_s=60.0)
    assert len(calls) == SPEED_WARMUP + 3 * 4  # fast enough: every round
