"""Test-wide settings: one CPU thread per process, the live race eager.

The test models are tiny, where threads only add overhead, and OpenMP threads that spin on a busy
2-core machine slow everything else down by orders of magnitude. Subprocesses inherit the variable.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"
# the app's live race eager: compiling it at each test server's start would cost tens of seconds of CPU
# (tests/test_sims.py checks the compiled step against the eager one)
os.environ.setdefault("BIGLEARN_RACE_COMPILE", "0")

import torch  # noqa: E402

torch.set_num_threads(1)
