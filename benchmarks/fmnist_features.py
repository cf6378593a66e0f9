#!/usr/bin/env python3
"""Train a small Fashion-MNIST classifier and save its 128-d penultimate layer as a TorchScript feature network.

The saved module maps float N,1,28,28 images in [0, 1] to N,128 features and stores `input_channels = 1` and
`input_size = [28, 28]`, so `segen.metrics.TorchScriptFeatures` converts and resizes any image to that. It is
an offline, domain-specific alternative to the Inception network for FID/KID of generated Fashion-MNIST images.

    python benchmarks/fmnist_features.py --data /usr/share/datasets/fashion-mnist --out fmnist_features.pt

Prints progress on stderr and a final JSON line {"test_accuracy", "train_s", "out"} on stdout.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segen.metrics import TorchScriptFeatures

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics in [0, 1]


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX array (the MNIST file format), gzipped or not."""
    if not path.is_file() and path.with_name(path.name + ".gz").is_file():
        path = path.with_name(path.name + ".gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != math.prod(shape):
        raise SystemExit(f"{path}: holds {array.size} values, header says {shape}")
    return array.reshape(shape)


def load_split(root: Path, split: str, limit: int) -> tuple[Tensor, Tensor]:
    """uint8 N,1,28,28 images and int64 labels of one split, the first `limit` only when limit > 0."""
    images, labels = (read_idx(root / name) for name in FILES[split])
    if len(images) != len(labels):
        raise SystemExit(f"{root}: {split} has {len(images)} images but {len(labels)} labels")
    n = limit if limit > 0 else len(images)
    return torch.from_numpy(images[:n].copy()).unsqueeze(1), torch.from_numpy(labels[:n].astype(np.int64))


def conv_block(c_in: int, c_out: int, convs: int) -> nn.Sequential:
    """`convs` 3x3 conv + BN + ReLU layers."""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class FeatureNet(nn.Module):
    """[0, 1] N,1,28,28 images -> N,128 penultimate features: 3 conv blocks, global average pool, linear.

    The 28x28 block has one convolution, the 14x14 and 7x7 blocks two: about 22 M multiply-adds per image.
    """

    def __init__(self, width: int = 32, feature_dim: int = 128) -> None:
        super().__init__()
        self.input_channels = 1
        self.input_size = [28, 28]
        self.mean, self.std = MEAN, STD
        self.body = nn.Sequential(conv_block(1, width, 1), nn.MaxPool2d(2), conv_block(width, 2 * width, 2),
                                  nn.MaxPool2d(2), conv_block(2 * width, 4 * width, 2), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(4 * width, feature_dim), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.body((x - self.mean) / self.std)


class Classifier(nn.Module):
    """FeatureNet + a 10-way linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = FeatureNet()
        self.head = nn.Linear(128, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def augment(images: Tensor) -> Tensor:
    """Random horizontal flips of float images."""
    flip = torch.rand(images.shape[0], 1, 1, 1) < 0.5
    return torch.where(flip, images.flip(-1), images)


def train(model: Classifier, images: Tensor, labels: Tensor, epochs: int, batch: int, lr: float) -> None:
    """AdamW with a one-cycle schedule and label smoothing."""
    steps = epochs * math.ceil(len(images) / batch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    model.train()
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        for idx in torch.randperm(len(images)).split(batch):
            loss = F.cross_entropy(model(augment(images[idx].float() / 255)), labels[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(images):.4f}, {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)


@torch.no_grad()
def accuracy(model: Classifier, images: Tensor, labels: Tensor) -> float:
    model.eval()
    batches = zip(images.split(1000), labels.split(1000), strict=True)
    correct = sum(int((model(x.float() / 255).argmax(1) == y).sum()) for x, y in batches)
    return correct / len(images)


def save_features(net: FeatureNet, out: Path) -> int:
    """Script and save the feature network, then check it loads as a segen feature extractor; its feature size."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in recent torch
        torch.jit.save(torch.jit.script(net.eval()), str(out))
    loaded = TorchScriptFeatures(out)
    if loaded.input_size != (28, 28) or loaded.input_channels != 1:
        raise SystemExit(f"{out}: saved without its input_size / input_channels attributes")
    return loaded.num_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"),
                        help="folder with the four Fashion-MNIST IDX files (.gz or not)")
    parser.add_argument("--out", type=Path, default=Path("fmnist_features.pt"), help="TorchScript file to write")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N train and test images (0: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load_split(args.data, "train", args.limit)
    test_x, test_y = load_split(args.data, "test", args.limit)
    print(f"{len(train_x)} train, {len(test_x)} test images, {args.threads} threads", file=sys.stderr)
    model = Classifier()
    start = time.perf_counter()
    train(model, train_x, train_y, args.epochs, args.batch_size, args.lr)
    train_s = time.perf_counter() - start
    test_accuracy = accuracy(model, test_x, test_y)
    num_features = save_features(model.features, args.out)
    print(f"test accuracy {test_accuracy:.4f}, {num_features}-d features saved to {args.out}", file=sys.stderr)
    print(json.dumps({"test_accuracy": round(test_accuracy, 4), "train_s": round(train_s, 1), "out": str(args.out)}))


if __name__ == "__main__":
    main()
