"""The floor and ceiling of FID on Fashion-MNIST for a given feature network.

Floor: 10,000 real training images against the test set (what a perfect generator would score).
Ceiling: 10,000 samples of an untrained segen `dcgan` generator (random weights) against the test set.

    python benchmarks/gan_fid_bounds.py --data /usr/share/datasets/fashion-mnist --features fmnist_features.pt

Prints one JSON line {"fid_floor", "kid_floor", "fid_untrained", "kid_untrained", ...}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from segen.data.gan import IdxImages, find_idx_split
from segen.metrics.generation import GenerationMetrics, TorchScriptFeatures
from segen.models import GANPair, create_model


def idx_images(root: Path, split: str) -> torch.Tensor:
    images, _ = find_idx_split(root, split)
    return IdxImages(images, None, None, 1).images


def score(real: torch.Tensor, fake: torch.Tensor, features: TorchScriptFeatures) -> dict[str, float]:
    metric = GenerationMetrics(features)
    for i in range(0, len(real), 500):
        metric.update(_as_nchw(real[i:i + 500]), real=True)
    for i in range(0, len(fake), 500):
        metric.update(_as_nchw(fake[i:i + 500]), real=False)
    return metric.compute()


def _as_nchw(images: torch.Tensor) -> torch.Tensor:
    return images if images.ndim == 4 else images[:, None]


@torch.inference_mode()
def untrained_samples(n: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    pair = create_model("dcgan", image_size=(28, 28), channels=1)
    assert isinstance(pair, GANPair)
    generator = pair.generator.eval()
    z = torch.randn(n, pair.latent_dim)
    out = torch.cat([generator(z[i:i + 500]) for i in range(0, n, 500)])
    return out.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--features", required=True)
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    features = TorchScriptFeatures(args.features)
    test = idx_images(args.data, "test")
    train = idx_images(args.data, "train")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: args.num]
    floor = score(test, train[pick], features)
    ceiling = score(test, untrained_samples(args.num, args.seed), features)
    print(json.dumps({"fid_floor": floor["fid"], "kid_floor": floor["kid_mean"], "fid_untrained": ceiling["fid"],
                      "kid_untrained": ceiling["kid_mean"], "num": args.num,
                      "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
