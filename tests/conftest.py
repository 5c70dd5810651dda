"""Test-wide setup.

The CUDA kernels run in Numba's CUDA simulator unless BPTTLAB_REAL_GPU=1: the variable
must be set before numba is first imported, which is why it happens here.
"""

import os

if os.environ.get("BPTTLAB_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
