"""FD sampling noise: one model's joint FD (1,000 samples, as --quick; 1,000 validation digits as the reference)
with five sample seeds. From the repository root: PYTHONPATH=. python docs/claims/fd_noise.py MODEL.safetensors ..."""

import statistics
import sys

import numpy as np
import torch

import biglearn
from train import metrics
from train.eval_classifier import load_classifier

torch.set_num_threads(1)
clf, _ = load_classifier("assets/eval_classifier.safetensors")
validation = np.load("../shared/data/mnist_train.npz")["images"][-5000:][:1000]  # the --holdout 5000 split
_, reference = clf.predict(torch.from_numpy(validation).float()[:, None] / 255)
for path in sys.argv[1:]:
    model = biglearn.load(path, device="cpu")
    fds = [metrics.frechet_distance(clf.predict(model.generate(1000, seeds=base))[1], reference)
           for base in (0, 1000, 2000, 3000, 4000)]
    mean, std = statistics.fmean(fds), statistics.stdev(fds)
    print(path, [round(f, 1) for f in fds], f"mean {mean:.1f} std {std:.1f} ({100 * std / mean:.1f} %)")
