"""GAN shapes, ranges, conditioning, dropout, PatchGAN receptive field, registry behaviour."""

from __future__ import annotations

import pytest
import torch

from segen.errors import ConfigError
from segen.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    GANPair,
    PatchDiscriminator,
    Pix2PixGenerator,
    UNet,
    UNetTranslator,
    create_model,
    list_models,
    model_defaults,
)
from segen.nn import DoubleConv, UpBlock

SMALL = {"width": 8, "d_width": 8}
SIZES = [((28, 28), 1), ((32, 32), 3), ((48, 80), 3), ((64, 64), 3)]


def _generate(pair: GANPair, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    labels = torch.arange(n) % pair.num_classes if pair.num_classes else None
    z = pair.sample_latents(n)
    return (pair(z) if labels is None else pair(z, labels)), labels


def _score(pair: GANPair, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return pair.discriminator(images) if labels is None else pair.discriminator(images, labels)


def test_gans_are_registered() -> None:
    assert {"dcgan", "cgan", "pix2pix"} <= set(list_models())
    assert model_defaults("dcgan")["latent_dim"] == 128
    assert model_defaults("cgan")["num_classes"] == 10
    assert model_defaults("pix2pix")["generator"] == "unet"  # depth and width follow the generator


@pytest.mark.parametrize("name", ["dcgan", "cgan"])
@pytest.mark.parametrize(("size", "channels"), SIZES)
def test_latent_gans_forward_and_backward(name: str, size: tuple[int, int], channels: int) -> None:
    pair = create_model(name, image_size=size, channels=channels, **SMALL)
    assert isinstance(pair, GANPair)
    assert (pair.image_size, pair.channels, pair.in_channels) == (size, channels, 0)
    images, labels = _generate(pair, 3)
    assert images.shape == (3, channels, *size)
    assert images.min() >= -1 and images.max() <= 1
    logits = _score(pair, images, labels)
    assert logits.shape == (3,)
    logits.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in pair.parameters())


@pytest.mark.parametrize("size", [(8, 8), (13, 200), (100, 100), (256, 256)])
def test_generator_makes_exact_sizes_from_small_base_maps(size: tuple[int, int]) -> None:
    generator = DCGANGenerator(latent_dim=8, channels=2, image_size=size, width=2).eval()
    assert 4 <= min(generator.base_size) <= 8
    with torch.no_grad():
        assert generator(torch.randn(2, 8)).shape == (2, 2, *size)
        assert DCGANDiscriminator(2, size, width=2)(torch.randn(2, 2, *size)).shape == (2,)


def test_dcgan_follows_the_paper_widths() -> None:
    pair = create_model("dcgan")
    assert [m.out_channels for m in pair.discriminator.features.modules() if isinstance(m, torch.nn.Conv2d)] == [
        64, 128, 256, 512]
    assert pair.generator.base_size == (4, 4)
    assert (pair.conditioning, pair.latent_dim, pair.num_classes) == ("none", 128, 0)


@pytest.mark.parametrize("norm", ["batch", "instance", "layer", "group", "none"])
@pytest.mark.parametrize("spectral", [False, True])
def test_discriminator_norms_and_spectral_norm(norm: str, spectral: bool) -> None:
    pair = create_model("cgan", image_size=(32, 32), d_norm=norm, g_norm=norm, d_spectral_norm=spectral, **SMALL)
    images, labels = _generate(pair, 2)
    logits = _score(pair, images, labels)
    assert logits.shape == (2,)
    logits.sum().backward()
    assert all(p.grad is not None for p in pair.discriminator.parameters())


def test_cgan_labels_change_generator_and_discriminator() -> None:
    pair = create_model("cgan", image_size=(28, 28), channels=1, **SMALL).eval()
    assert (pair.conditioning, pair.num_classes) == ("class", 10)
    z = pair.sample_latents(1).repeat(2, 1)
    labels = torch.tensor([0, 1])
    with torch.no_grad():
        images = pair(z, labels)
        logits = pair.discriminator(images[:1].repeat(2, 1, 1, 1), labels)
    assert not torch.allclose(images[0], images[1])
    assert not torch.allclose(logits[0], logits[1])
    with pytest.raises(ValueError, match="labels"):
        pair(z)


def test_sample_latents() -> None:
    pair = create_model("dcgan", image_size=(32, 32), latent_dim=16, **SMALL)
    first = pair.sample_latents(5, torch.Generator().manual_seed(1))
    assert first.shape == (5, 16)
    assert torch.equal(first, pair.sample_latents(5, torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="latent"):
        create_model("pix2pix", width=4, d_width=4).sample_latents(2)


@pytest.mark.parametrize(("size", "patches"), [((64, 64), (6, 6)), ((70, 90), (6, 9))])
def test_pix2pix_forward_and_backward(size: tuple[int, int], patches: tuple[int, int]) -> None:
    pair = create_model("pix2pix", in_channels=1, channels=3, **SMALL)
    assert (pair.conditioning, pair.latent_dim, pair.num_classes, pair.in_channels) == ("image", 0, 0, 1)
    source = torch.randn(2, 1, *size)
    fake = pair(source)
    assert fake.shape == (2, 3, *size)
    assert fake.min() >= -1 and fake.max() <= 1
    logits = pair.discriminator(source, fake)
    assert logits.shape == (2, 1, *patches)
    logits.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in pair.parameters())


def test_pix2pix_generator_is_the_segmentation_unet() -> None:
    pair = create_model("pix2pix", in_channels=1, channels=3, **SMALL)
    assert isinstance(pair.generator, UNetTranslator)
    unet = pair.generator.unet
    assert isinstance(unet, UNet) and unet.stem is not None
    blocks = {type(m) for m in unet.modules()}
    assert {DoubleConv, UpBlock} <= blocks
    dropouts = [m for block in unet.decoder.blocks for m in block.modules() if isinstance(m, torch.nn.Dropout2d)]
    assert len(dropouts) == 3 and all(d.p == 0.5 for d in dropouts)
    assert not any(isinstance(m, torch.nn.Dropout2d) for m in unet.decoder.blocks[-1].modules())  # innermost only
    paper = create_model("pix2pix", generator="paper", **SMALL)
    assert isinstance(paper.generator, Pix2PixGenerator) and paper.generator.depth == 8


def test_unet_generator_keeps_odd_sizes_and_dropout_only_in_train_mode() -> None:
    generator = UNetTranslator(in_channels=2, out_channels=1, width=4, depth=3)
    x = torch.randn(2, 2, 37, 53)
    with torch.no_grad():
        out = generator(x)
        assert out.shape == (2, 1, 37, 53) and out.abs().max() <= 1
        assert not torch.equal(generator(x), generator(x))
        generator.eval()
        assert torch.equal(generator(x), generator(x))


def test_pix2pix_generator_depth_and_tiny_inputs() -> None:
    generator = Pix2PixGenerator(in_channels=2, out_channels=1, width=4, depth=3, dropout=0.0).eval()
    with torch.no_grad():
        assert generator(torch.randn(1, 2, 5, 11)).shape == (1, 1, 5, 11)


def test_pix2pix_dropout_only_in_train_mode() -> None:
    generator = Pix2PixGenerator(width=4, depth=6)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert not torch.equal(generator(x), generator(x))
        generator.eval()
        assert torch.equal(generator(x), generator(x))
    assert sum(isinstance(m, torch.nn.Dropout) for m in generator.modules()) == 3


def test_patchgan_receptive_field_is_70() -> None:
    discriminator = PatchDiscriminator(in_channels=2, width=4).eval()
    a = torch.randn(1, 1, 128, 128, requires_grad=True)
    logits = discriminator(a, torch.randn(1, 1, 128, 128))
    assert logits.shape == (1, 1, 14, 14)
    logits[0, 0, 7, 7].backward()
    assert a.grad is not None
    rows, cols = a.grad[0, 0].abs().gt(0).nonzero().unbind(1)
    assert rows.min() > 0 and cols.min() > 0 and rows.max() < 127 and cols.max() < 127
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


@pytest.mark.parametrize(("name", "kwargs"), [
    ("dcgan", {"image_size": (4, 4)}),
    ("dcgan", {"image_size": (64, 2048)}),
    ("dcgan", {"image_size": (1, 2, 3)}),
    ("dcgan", {"channels": 0}),
    ("dcgan", {"latent_dim": 0}),
    ("dcgan", {"d_norm": "weird"}),
    ("dcgan", {"num_classes": 3}),
    ("cgan", {"num_classes": 0}),
    ("cgan", {"image_size": 7}),
    ("pix2pix", {"image_size": (2000, 64)}),
    ("pix2pix", {"generator": "resnet"}),
    ("pix2pix", {"dropout": 1.0}),
    ("pix2pix", {"channels": 0}),
    ("pix2pix", {"dropout": 1.0}),
])
def test_bad_arguments_are_config_errors(name: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=name):
        create_model(name, **SMALL, **kwargs)


def test_classes_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(image_size=(8, 1025))
    with pytest.raises(ValueError, match="channels"):
        DCGANDiscriminator(channels=0)
    with pytest.raises(ValueError, match="conditioning"):
        GANPair(torch.nn.Identity(), torch.nn.Identity(), conditioning="text", image_size=(8, 8), channels=1)


def _fixed_outputs(pair: GANPair) -> tuple[torch.Tensor, torch.Tensor]:
    """Generator and discriminator outputs on seeded inputs."""
    torch.manual_seed(0)
    if pair.conditioning == "image":
        source = torch.randn(2, pair.in_channels, *pair.image_size)
        fake = pair(source)
        return fake, pair.discriminator(source, fake)
    fake, labels = _generate(pair, 2)
    return fake, _score(pair, fake, labels)


@pytest.mark.parametrize("name", ["dcgan", "cgan", "pix2pix"])
def test_rebuilds_from_the_same_kwargs(name: str) -> None:
    kwargs: dict[str, object] = {"image_size": [48, 80], "channels": 1, **SMALL}
    if name != "pix2pix":
        kwargs["d_spectral_norm"] = True
    first = create_model(name, **kwargs).eval()
    second = create_model(name, **kwargs).eval()
    second.load_state_dict(first.state_dict())
    assert isinstance(first, GANPair) and isinstance(second, GANPair)
    with torch.no_grad():
        for a, b in zip(_fixed_outputs(first), _fixed_outputs(second), strict=True):
            assert torch.equal(a, b)
