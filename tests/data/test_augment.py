"""Augmentation ops and presets keep masks aligned with images, ids valid, dtypes and sizes intact."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segen.data.augment import OPS, PRESETS, build_pipeline, op_params, preset_for
from segen.errors import ConfigError

CODES = torch.tensor([0, 80, 160, 240], dtype=torch.uint8)
IGNORE = 255
SHAPES = [(48, 64), (64, 48), (48, 48)]


def ranges(lo: float, hi: float) -> st.SearchStrategy[list[float]]:
    """Two numbers min <= max in [lo, hi]."""
    return st.lists(st.floats(lo, hi), min_size=2, max_size=2).map(sorted)


PARAMS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "hflip": st.just({}),
    "vflip": st.just({}),
    "rot90": st.just({}),
    "rotate": st.fixed_dictionaries({"degrees": st.floats(0, 180)}),
    "elastic": st.fixed_dictionaries({"alpha": st.floats(0, 80), "sigma": st.floats(3, 10)}),
    "grid_distortion": st.fixed_dictionaries({"num_steps": st.integers(1, 10), "distort_limit": st.floats(0, 0.5)}),
    "brightness": st.fixed_dictionaries({"limit": st.floats(0, 1)}),
    "contrast": st.fixed_dictionaries({"limit": st.floats(0, 1)}),
    "gamma": st.fixed_dictionaries({"limit": st.floats(0, 4)}),
    "hue": st.fixed_dictionaries({"limit": st.floats(0, 0.5)}),
    "blur": st.fixed_dictionaries({"sigma": ranges(0.01, 3)}),
    "noise": st.fixed_dictionaries({"std": ranges(0, 1)}),
    "cutout": st.fixed_dictionaries({"num_holes": st.integers(1, 8), "max_size": st.floats(0, 0.5),
                                     "mask_ignore": st.booleans()}),
}
GEOMETRIC = sorted(name for name, cls in OPS.items() if cls.geometric)
PHOTOMETRIC = sorted(name for name, cls in OPS.items() if not cls.geometric and name != "cutout")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Per-sample ops are tiny; intra-op threads only add synchronisation (and stalls on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@st.composite
def samples(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    """Nested rectangles of classes 0 < 1 < ... (at most 3), and an image whose channels encode the class.

    Nesting makes only classes with neighbouring codes touch, so a bilinear mix of two classes never rounds
    to a third class's code; the border is class 0 (code 0, like the fill from outside the image).
    """
    h, w = draw(st.sampled_from(SHAPES))
    channels = draw(st.sampled_from([1, 3]))
    mask = torch.zeros(h, w, dtype=torch.uint8)
    top, left, bottom, right = 0, 0, h, w
    for k in range(1, draw(st.integers(1, 3)) + 1):
        top, left = top + draw(st.integers(2 if k == 1 else 3, 6)), left + draw(st.integers(3, 6))
        bottom, right = bottom - draw(st.integers(3, 6)), right - draw(st.integers(3, 6))
        mask[top:bottom, left:right] = k
    return CODES[mask.long()].expand(channels, h, w).contiguous(), mask


def seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def interior(image: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3x3 neighbourhood has a single value in every channel (no interpolation mixing)."""
    x = image.float()[None]
    hi = torch.nn.functional.max_pool2d(x, 3, 1, 1)
    lo = -torch.nn.functional.max_pool2d(-x, 3, 1, 1)
    return (hi == lo)[0].all(0)


def check_basics(image: torch.Tensor, mask: torch.Tensor, out_image: torch.Tensor, out_mask: torch.Tensor) -> None:
    """Dtypes and shapes are kept; the output mask holds input ids and the ignore value only."""
    assert out_image.dtype == torch.uint8 and out_mask.dtype == torch.uint8
    assert out_image.shape == image.shape and out_mask.shape == mask.shape
    assert set(out_mask.unique().tolist()) <= set(mask.unique().tolist()) | {IGNORE}


def check_alignment(out_image: torch.Tensor, out_mask: torch.Tensor) -> None:
    """Where the image is locally constant at a class code, the mask holds that class; ignore areas are black."""
    flat = interior(out_image)
    inside = out_mask != IGNORE
    stable = flat & inside
    # Not vacuous: most pixels that came from the image are checked (strong distortions move much of the
    # frame outside it, so the share is taken of those pixels, not of the whole frame).
    assert stable.sum() >= 64 and stable.sum() > 0.2 * inside.sum()
    for k, code in enumerate(CODES.tolist()):
        region = stable & (out_image == code).all(0)
        assert (out_mask[region] == k).all(), f"class {k} misaligned"
    assert (out_image[:, flat & (out_mask == IGNORE)] == 0).all()


@pytest.mark.parametrize("name", GEOMETRIC)
@settings(max_examples=30, deadline=None)
@given(data=st.data(), sample=samples(), seed=st.integers(0, 2**32 - 1))
def test_geometric_ops_keep_mask_aligned(name: str, data: st.DataObject, sample: tuple[torch.Tensor, torch.Tensor],
                                         seed: int) -> None:
    image, mask = sample
    params = data.draw(PARAMS[name])
    seed_all(seed)
    out_image, out_mask = build_pipeline([{"name": name, "p": 1.0, **params}], IGNORE)(image, mask)
    check_basics(image, mask, out_image, out_mask)
    check_alignment(out_image, out_mask)


@pytest.mark.parametrize("name", PHOTOMETRIC)
@settings(max_examples=30, deadline=None)
@given(data=st.data(), sample=samples(), seed=st.integers(0, 2**32 - 1))
def test_photometric_ops_leave_mask_identical(name: str, data: st.DataObject,
                                              sample: tuple[torch.Tensor, torch.Tensor], seed: int) -> None:
    image, mask = sample
    params = data.draw(PARAMS[name])
    seed_all(seed)
    out_image, out_mask = build_pipeline([{"name": name, "p": 1.0, **params}], IGNORE)(image, mask)
    check_basics(image, mask, out_image, out_mask)
    assert torch.equal(out_mask, mask)
    if name == "hue" and image.shape[0] == 1:
        assert torch.equal(out_image, image)


@settings(max_examples=40, deadline=None)
@given(params=PARAMS["cutout"], sample=samples(), seed=st.integers(0, 2**32 - 1))
def test_cutout_zeroes_holes_and_keeps_or_ignores_mask(params: dict[str, Any],
                                                       sample: tuple[torch.Tensor, torch.Tensor], seed: int) -> None:
    image, mask = sample
    seed_all(seed)
    out_image, out_mask = build_pipeline([{"name": "cutout", "p": 1.0, **params}], IGNORE)(image, mask)
    check_basics(image, mask, out_image, out_mask)
    assert ((out_image == image) | (out_image == 0)).all()
    if params["mask_ignore"]:
        kept = out_mask != IGNORE
        assert torch.equal(out_mask[kept], mask[kept])
        check_alignment(out_image, out_mask)
    else:
        assert torch.equal(out_mask, mask)


def geometric_part(preset: str) -> list[dict[str, Any]]:
    return [spec for spec in PRESETS[preset] if OPS[spec["name"]].geometric]


@pytest.mark.parametrize("preset", sorted(PRESETS))
@settings(max_examples=30, deadline=None)
@given(sample=samples(), seed=st.integers(0, 2**32 - 1))
def test_presets(preset: str, sample: tuple[torch.Tensor, torch.Tensor], seed: int) -> None:
    image, mask = sample
    seed_all(seed)
    out_image, out_mask = build_pipeline(PRESETS[preset], IGNORE)(image, mask)
    check_basics(image, mask, out_image, out_mask)
    always = [{**spec, "p": 1.0} for spec in geometric_part(preset)]
    for specs in (geometric_part(preset), always):
        out_image, out_mask = build_pipeline(specs, IGNORE)(image, mask)
        check_basics(image, mask, out_image, out_mask)
        check_alignment(out_image, out_mask)
    photometric = [{**spec, "p": 1.0} for spec in PRESETS[preset] if not OPS[spec["name"]].geometric]
    _, out_mask = build_pipeline(photometric, IGNORE)(image, mask)
    assert torch.equal(out_mask, mask)


def encoded(h: int = 64, w: int = 64, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(h, w, dtype=torch.uint8)
    mask[8:h - 8, 8:w // 2] = 1
    mask[12:h // 2, w // 2 + 4:w - 6] = 2
    mask[h // 2 + 4:h - 10, w // 2 + 4:w - 6] = 3
    return CODES[mask.long()].expand(channels, h, w).contiguous(), mask


def test_every_op_has_a_test_strategy() -> None:
    assert set(PARAMS) == set(OPS)
    for name, cls in OPS.items():
        assert "p" in op_params(cls), name


def test_unknown_op_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="unknown op 'elastik'.*elastic.*grid_distortion"):
        build_pipeline([{"name": "elastik"}])


def test_unknown_parameter_names_op_and_parameter() -> None:
    with pytest.raises(ConfigError, match="'elastic'.*unknown parameter 'sigmaa'"):
        build_pipeline([{"name": "elastic", "sigmaa": 3.0}])


@pytest.mark.parametrize("spec", [
    {"name": "hflip", "p": 1.5},
    {"name": "rotate", "degrees": "ten"},
    {"name": "blur", "sigma": [2.0, 1.0]},
    {"name": "noise", "std": 0.1},
    {"name": "grid_distortion", "num_steps": 2.5},
    {"name": "cutout", "mask_ignore": "yes"},
    {"p": 0.5},
])
def test_invalid_values_are_config_errors(spec: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        build_pipeline([spec])


def test_specs_must_be_a_list() -> None:
    preset: Any = "biomedical"
    with pytest.raises(ConfigError, match="list of op specs"):
        build_pipeline(preset)


@pytest.mark.parametrize("name", sorted(OPS))
def test_p_zero_changes_nothing(name: str) -> None:
    image, mask = encoded()
    out_image, out_mask = build_pipeline([{"name": name, "p": 0.0}])(image, mask)
    assert torch.equal(out_image, image) and torch.equal(out_mask, mask)


@pytest.mark.parametrize("preset", sorted(p for p in PRESETS if PRESETS[p]))
def test_pipelines_are_reproducible(preset: str) -> None:
    image, mask = encoded(48, 48, channels=1)
    pipe = build_pipeline(PRESETS[preset])
    runs = []
    for _ in range(2):
        seed_all(7)
        runs.append([pipe(image, mask) for _ in range(5)])
    for (a_img, a_msk), (b_img, b_msk) in zip(*runs, strict=True):
        assert torch.equal(a_img, b_img) and torch.equal(a_msk, b_msk)
    assert any(not torch.equal(img, image) for img, _ in runs[0])


def test_elastic_moves_pixels_but_keeps_class_areas() -> None:
    seed_all(0)
    image, mask = encoded(96, 96)
    out_image, out_mask = build_pipeline([{"name": "elastic", "p": 1.0, "alpha": 60.0, "sigma": 5.0}])(image, mask)
    assert not torch.equal(out_image, image) and not torch.equal(out_mask, mask)
    for k in range(4):
        before, after = (mask == k).sum().item(), (out_mask == k).sum().item()
        assert before / 2 <= after <= 2 * before, f"class {k}: {before} -> {after}"


def test_rot90_keeps_the_size_of_non_square_inputs() -> None:
    image, mask = encoded(48, 64)
    for seed in range(4):
        seed_all(seed)
        out_image, out_mask = build_pipeline([{"name": "rot90", "p": 1.0}])(image, mask)
        assert torch.equal(out_image, image.flip(-2, -1)) and torch.equal(out_mask, mask.flip(-2, -1))


def test_rot90_draws_all_quarter_turns_on_square_inputs() -> None:
    image, mask = encoded(48, 48)
    pipe = build_pipeline([{"name": "rot90", "p": 1.0}])
    seed_all(0)
    seen = set()
    for _ in range(40):
        _, out_mask = pipe(image, mask)
        seen |= {k for k in (1, 2, 3) if torch.equal(out_mask, torch.rot90(mask, k))}
    assert seen == {1, 2, 3}


def test_preset_choice_and_contents() -> None:
    assert preset_for(1) == "biomedical" and preset_for(3) == "natural"
    assert "vflip" not in {spec["name"] for spec in PRESETS["natural"]}
    assert {"elastic", "grid_distortion", "rot90"} <= {spec["name"] for spec in PRESETS["biomedical"]}
    for specs in PRESETS.values():
        build_pipeline(specs)


def test_pipeline_rejects_mismatched_shapes() -> None:
    image, mask = encoded(48, 64)
    with pytest.raises(ValueError):
        build_pipeline([])(image, mask.T)


def test_preset_tables_name_the_same_presets() -> None:
    from segen.config import AUGMENT_PRESETS
    from segen.data.augment import PRESET_RESAMPLE_P

    assert set(PRESETS) == set(PRESET_RESAMPLE_P) == set(AUGMENT_PRESETS) - {"auto"}


# --- 16-bit images --------------------------------------------------------------------------------------------


def wide_sample(top: int, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """An int32 image (as 16-bit files are read) whose values span 0..top, and a block mask."""
    h, w = 40, 48
    ramp = torch.linspace(0, top, h * w).round().to(torch.int32).view(1, h, w)
    mask = torch.zeros(h, w, dtype=torch.uint8)
    mask[10:30, 12:36] = 1
    return ramp.expand(channels, h, w).contiguous(), mask


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize(("top", "channels"), [(4095, 1), (65535, 3)])
def test_every_op_works_on_16bit_images_within_max_value(name: str, top: int, channels: int) -> None:
    seed_all(0)
    strong = {"brightness": {"limit": 1.0}, "contrast": {"limit": 1.0}, "noise": {"std": [0.3, 0.5]},
              "gamma": {"limit": 2.0}}.get(name, {})
    pipeline = build_pipeline([{"name": name, "p": 1.0, **strong}], IGNORE, max_value=top)
    image, mask = wide_sample(top, channels)
    for _ in range(4):
        out, out_mask = pipeline(image, mask)
        assert out.dtype == torch.int32 and out.shape == image.shape and out_mask.shape == mask.shape
        assert int(out.min()) >= 0 and int(out.max()) <= top, (name, int(out.min()), int(out.max()))
        assert int(out.max()) > 255, name  # not clamped to the 8-bit range
        if not OPS[name].geometric:
            assert torch.equal(out_mask, mask)


def test_16bit_brightness_and_noise_saturate_at_max_value() -> None:
    seed_all(1)
    image, mask = wide_sample(4095)
    brighter = build_pipeline([{"name": "brightness", "p": 1.0, "limit": 1.0}], IGNORE, max_value=4095)
    outs = [brighter(image, mask)[0] for _ in range(8)]
    assert max(int(o.max()) for o in outs) == 4095
    noisy, _ = build_pipeline([{"name": "noise", "p": 1.0, "std": [0.05, 0.05]}], IGNORE, max_value=4095)(image, mask)
    error = (noisy - image).float()
    assert 0.03 * 4095 < error.std() < 0.07 * 4095  # noise is relative to the data's range, not to 255
