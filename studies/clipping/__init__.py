"""Gradient clipping (Pascanu, Mikolov & Bengio 2013): does clipping let SGD *learn* where unclipped
SGD diverges?

    python -m bpttlab.studies.clipping [--quick]

Elman (tanh and ReLU/IRNN), GRU and LSTM networks of 64 units learn the adding problem at T = 100
with SGD and momentum, from PyTorch's default initialization and from one that is measured
expanding, with no clipping, clipping by global norm (Pascanu et al.'s Algorithm 1) at thresholds on
one absolute grid shared by every seed and at multiples of each seed's own initial gradient norm,
and clipping by value. Ten seeds per configuration; success is the held-out loss at the end of
training against the input-blind baseline of the task's own data. The verdict rules are fixed in
``verdicts`` before any run: one pre-registered threshold per configuration decides claim 1 with a
one-sided Fisher test; every other threshold is exploratory and Holm-corrected.

Modules: ``design`` (what is run, and the pre-registered choices), ``verdicts`` (summaries, tests,
claims), ``figures``, ``report`` (tables and text), ``study`` (the Study object).
"""

from .study import STUDY

__all__ = ["STUDY"]
