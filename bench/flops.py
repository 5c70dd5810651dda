"""Kept for tests/test_bench_regression.py until it imports ``studies.speed.flops`` itself."""

from studies.speed.flops import flops, input_flops, recurrent_flops

__all__ = ["flops", "input_flops", "recurrent_flops"]
