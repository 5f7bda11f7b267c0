"""The evaluation classifier: a small CNN for 28x28 grey digits, fitted once on MNIST train, cached as safetensors.

Its logits score generated digits (accuracy, class histogram, confidence); its penultimate features play
the part Inception features play in FID, for the Fréchet distance. It is a judge independent of the
model under test, so it is trained here on real data only and never sees generated images.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_PATH = REPO_ROOT / "assets" / "eval_classifier.safetensors"
FORMAT = "biglearn-eval-classifier"
VERSION = "1"
IMAGE_SHAPE = (1, 28, 28)


class ClassifierError(ValueError):
    """The cached classifier file is unreadable or not an evaluation classifier."""


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture: two conv blocks (LeNet-like, with batch norm) and a feature layer."""

    channels: tuple[int, int] = (16, 32)
    feature_dim: int = 128  # penultimate width = dimension of the Fréchet-distance features
    num_classes: int = 10
    dropout: float = 0.25


class EvalClassifier(nn.Module):
    """CNN on (B, 1, 28, 28) images in [0, 1]: `features` (B, feature_dim) and `forward` -> logits (B, K)."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        self.config = config
        c1, c2 = config.channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 5), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),  # (B, c1, 12, 12)
            nn.Conv2d(c1, c2, 5), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),  # (B, c2, 4, 4)
            nn.Flatten(), nn.Linear(c2 * 16, config.feature_dim), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (B, feature_dim) of images in [0, 1]."""
        return self.body((x - 0.5) / 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.inference_mode()
    def predict(self, images: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (N, K), features (N, feature_dim)) of float images (N, 1, 28, 28) in [0, 1], in eval mode."""
        if tuple(images.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"the evaluation classifier takes (N, 1, 28, 28) images, got {tuple(images.shape)}")
        was_training = self.training
        self.eval()
        logits, feats = [], []
        for lo in range(0, images.shape[0], batch_size):
            f = self.features(images[lo:lo + batch_size].float())
            feats.append(f)
            logits.append(self.head(f))
        self.train(was_training)
        return torch.cat(logits), torch.cat(feats)


def to_float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div(255).unsqueeze(1)


def fit_classifier(images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 3, batch_size: int = 128,
                   lr: float = 3e-3, seed: int = 0, config: ClassifierConfig = ClassifierConfig(),
                   progress: bool = True) -> EvalClassifier:
    """Train an EvalClassifier on float images (N, 1, 28, 28) in [0, 1] and int labels (N,); returns it in eval mode."""
    torch.manual_seed(seed)
    model = EvalClassifier(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = -(-images.shape[0] // batch_size)
    # one-cycle: a high learning rate early, annealed to ~0, reaches >99% in a few epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(images.shape[0], generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"eval classifier epoch {epoch + 1}/{epochs}", disable=not progress)
        for i in bar:
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def accuracy_of(model: EvalClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of the classifier on float images (N, 1, 28, 28) in [0, 1]."""
    logits, _ = model.predict(images)
    return float((logits.argmax(1) == labels).float().mean())


def save_classifier(path: str | Path, model: EvalClassifier, info: dict) -> None:
    """Write weights and buffers as safetensors; config and `info` (e.g. test accuracy) as JSON metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "version": VERSION, "config": json.dumps(dataclasses.asdict(model.config)),
            "info": json.dumps(info, sort_keys=True)}
    save_file(tensors, str(path), metadata=meta)


def load_classifier(path: str | Path) -> tuple[EvalClassifier, dict]:
    """Read a cached classifier: (model in eval mode, info dict). ClassifierError names what is wrong."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise ClassifierError(f"cannot read evaluation classifier {path}: {exc}") from exc
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ClassifierError(f"{path} is not an evaluation classifier file (format {FORMAT} v{VERSION})")
    try:
        raw = json.loads(meta["config"])
        config = ClassifierConfig(**{**raw, "channels": tuple(raw["channels"])})
        info = json.loads(meta.get("info", "{}"))
        model = EvalClassifier(config)
        model.load_state_dict(tensors)  # strict: names the missing/unexpected/mis-shaped tensor
    except (KeyError, TypeError, json.JSONDecodeError, RuntimeError) as exc:
        raise ClassifierError(f"{path}: invalid evaluation classifier: {exc}") from exc
    return model.eval(), info


DATA_ROOT = Path("~/.cache/biglearn/data").expanduser()  # where torchvision downloads, as for the trainer
TORCHVISION_SETS = {"mnist-train": ("MNIST", True), "mnist-test": ("MNIST", False),
                    "fashion-mnist-test": ("FashionMNIST", False)}


def default_source(file_name: str, name: str) -> str:
    """The offline copy `DATA_DIR/file_name` when this checkout has one, else the torchvision set `name`."""
    path = DATA_DIR / file_name
    return str(path) if path.is_file() else name


def load_labelled(source: str | Path, data_root: Path = DATA_ROOT) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, H, W[, C]), labels int64 (N,)) of a labelled .npz, or of a torchvision set named in
    TORCHVISION_SETS (downloaded into `data_root` on first use); ValueError saying how to supply it otherwise."""
    if str(source) not in TORCHVISION_SETS:
        return load_npz(Path(source))
    from torchvision import datasets

    cls, train = TORCHVISION_SETS[str(source)]
    try:
        ds = getattr(datasets, cls)(str(data_root), train=train, download=True)
    except Exception as exc:  # network and archive errors come in many types
        raise ValueError(f"could not download or read torchvision's {cls} ({'train' if train else 'test'} split) "
                         f"into {data_root} (offline?): {type(exc).__name__}: {exc}. Put its files there "
                         f"({data_root / cls / 'raw'}), pass --data-root, or pass an .npz with uint8 'images' and "
                         "'labels' instead") from exc
    return ds.data.numpy().astype(np.uint8), ds.targets.numpy().astype(np.int64)


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, H, W[, C]), labels int64 (N,)) of a labelled .npz; ValueError naming the path."""
    if not path.is_file():
        raise ValueError(f"data file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
        images, labels = data["images"], data["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read {path} as an .npz with 'images' and 'labels': {exc}") from exc
    if images.dtype != np.uint8 or labels.shape != (images.shape[0],):
        raise ValueError(f"{path}: expected uint8 'images' and one label per image, got {images.dtype} "
                         f"{images.shape} and labels {labels.shape}")
    return images, labels.astype(np.int64)


def load_or_fit(path: str | Path = DEFAULT_PATH, *, train_data: str | Path = DATA_DIR / "mnist_train.npz",
                test_data: str | Path = DATA_DIR / "mnist_test.npz", progress: bool = True,
                data_root: Path = DATA_ROOT) -> tuple[EvalClassifier, dict]:
    """The cached classifier at `path`, or (if absent) fit it on `train_data`, measure it on `test_data`
    and cache it there. Returns (model, info) with info["test_accuracy"]."""
    path = Path(path)
    if path.exists():
        return load_classifier(path)
    train_x, train_y = load_labelled(train_data, data_root)
    test_x, test_y = load_labelled(test_data, data_root)
    start = time.time()
    model = fit_classifier(to_float_images(train_x), torch.from_numpy(train_y), progress=progress)
    info = {"test_accuracy": round(accuracy_of(model, to_float_images(test_x), torch.from_numpy(test_y)), 5),
            "train_data": Path(train_data).name, "test_data": Path(test_data).name,
            "fit_seconds": round(time.time() - start, 1)}
    save_classifier(path, model, info)
    return model, info


if __name__ == "__main__":
    _, fitted = load_or_fit()
    print(json.dumps(fitted))


def add_evaluation_options(parser: argparse.ArgumentParser) -> None:
    """The options `train.compare` and `train.sweep` share for scoring their runs: out-of-domain data, where
    torchvision sets live, the evaluation classifier and the validation hold-out."""
    from .data import VAL_HOLDOUT

    parser.add_argument("--ood-data", default=default_source("fashion_mnist_test.npz", "fashion-mnist-test"),
                        help="out-of-domain .npz, or fashion-mnist-test")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="where torchvision sets are downloaded")
    parser.add_argument("--classifier", type=Path, default=DEFAULT_PATH, help="the evaluation classifier")
    parser.add_argument("--holdout", type=int, default=VAL_HOLDOUT, help="validation images held out of training")
