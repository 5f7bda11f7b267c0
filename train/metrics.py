"""Pure evaluation metrics: Fréchet distance, accuracy, class histogram and entropy, confidence, diversity.

Inputs are tensors or arrays already computed (classifier logits and features, generated samples);
nothing here runs a model, so every function can be checked on tiny inputs with known answers.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def frechet_distance(features_a: np.ndarray | torch.Tensor, features_b: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D), as FID does.

    ‖μa − μb‖² + tr(Σa) + tr(Σb) − 2·tr((Σa^½ Σb Σa^½)^½). The cross term is taken from the eigenvalues
    of the symmetric PSD matrix Σa^½ Σb Σa^½ (float64), which stays real and stable where `sqrtm(Σa Σb)`
    can turn complex; the distance of a set with itself is 0 up to rounding.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples per set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    sqrt_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a), 0.0, None)).sum()
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(fd, 0.0)  # rounding can leave a tiny negative for identical sets


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative rounding noise clipped)."""
    vals, vecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max class equals the label: logits (N, K), labels (N,)."""
    if logits.shape[0] != labels.shape[0] or logits.shape[0] == 0:
        raise ValueError(f"need as many labels as logits rows (> 0), got {logits.shape[0]} and {labels.shape[0]}")
    return float((logits.argmax(1) == labels).float().mean())


def sampler_scores(logits: torch.Tensor, labels: torch.Tensor, floor: float = 1e-3) -> dict[str, float]:
    """Completion as inference, from k samples per image: logits (N, k, K) of a classifier on each sample, labels
    (N,). `vote`: accuracy of the class most of the k samples get (ties to the lower class: the posterior mode);
    `mass`: of the class with the most softmax probability summed over the samples; `nll`: mean −log of the true
    label's share of the samples' class histogram, at least `floor` (a calibrated sampler of an ambiguous source
    draws other classes some of the time, rightly). With k = 1 (a deterministic model) `vote` = `mass` = accuracy."""
    if logits.dim() != 3 or logits.shape[0] != labels.shape[0] or logits.shape[0] == 0:
        raise ValueError(f"need logits (N, k, K) and labels (N,) with N > 0, got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    n, k, classes = logits.shape
    counts = torch.zeros(n, classes, dtype=torch.float64).scatter_add_(
        1, logits.argmax(2), torch.ones(n, k, dtype=torch.float64))  # (N, K) votes per class
    mass = logits.double().softmax(2).sum(1)
    share = (counts / k).gather(1, labels.view(-1, 1)).squeeze(1)
    return {"vote": float((counts.argmax(1) == labels).double().mean()),
            "mass": float((mass.argmax(1) == labels).double().mean()),
            "nll": float(-share.clamp(min=floor).log().mean())}


def class_histogram(logits: torch.Tensor) -> list[float]:
    """Fraction of samples assigned to each of the K classes (arg-max of logits (N, K)); sums to 1."""
    counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).double()
    return (counts / counts.sum()).tolist()


def entropy(fractions: list[float]) -> float:
    """Shannon entropy in nats of a class histogram; ln K for a uniform one, 0 for a single class."""
    return float(-sum(p * math.log(p) for p in fractions if p > 0))


def mean_confidence(logits: torch.Tensor) -> float:
    """Mean over samples of the top softmax probability of logits (N, K)."""
    return float(logits.float().softmax(1).amax(1).mean())


def diversity(samples: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-pixel standard deviation across seeds, over the pixels of T only.

    `samples` (B, S, C, H, W) holds S ≥ 2 samples (seeds) per image; `target` is a bool pixel mask
    broadcastable to (B, C, H, W) (e.g. (B, 1, H, W)). The population std (no Bessel correction) is used,
    so a deterministic generator scores exactly 0.
    """
    if samples.dim() != 5 or samples.shape[1] < 2:
        raise ValueError(f"samples must be (B, S >= 2, C, H, W), got {tuple(samples.shape)}")
    std = samples.double().std(dim=1, correction=0)  # (B, C, H, W)
    mask = target.expand_as(std)
    if not bool(mask.any()):
        raise ValueError("the target mask selects no pixel")
    return float(std[mask].mean())
