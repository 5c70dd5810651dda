"""Kept for bench/regression.py until it imports ``studies.speed.cases.make_case`` itself."""

from studies.speed.cases import make_case

__all__ = ["make_case"]
