"""bpttlab studies: ``python -m bpttlab.studies.<name> [--quick]``; studies/framework is the machinery, studies/science the shared science."""

import os

# The studies' linear algebra is a long sequence of small products (one matrix-vector or thin
# matrix product per time step). BLAS threads cost more to synchronise than they save there,
# and on a shared machine their spin-waiting slowed the gradient-decay study 3-4x. Effective
# only if NumPy is not imported yet (the command line); an explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
