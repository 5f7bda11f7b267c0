"""Test-wide settings: one CPU thread per process.

The test models are tiny, where threads only add overhead, and OpenMP threads that spin on a busy
2-core machine slow everything else down by orders of magnitude. Subprocesses inherit the variable.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)
