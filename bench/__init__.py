"""Benchmarks of the BigLearn-GAN against the machine's own limits.

    python -m bench [--quick] [--out FILE.json]

Measures, in one process: the machine's matmul FLOP/s and memory bandwidth, training images/s and
MFU per preset (through `train.loop.Trainer.train_step`), inference latency and MFU of the bundled
checkpoint, how step time and memory scale with tokens and batch, and the app's start-up time.
Results are printed as a table and written as JSON (see `bench.run.main`).
"""
