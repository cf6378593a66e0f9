"""Loss specs: parsing weighted sums, the binary / multi-class rule, and building the summed losses."""

from __future__ import annotations

import pytest
import torch

from segen.errors import ConfigError
from segen.losses import (
    BCELoss,
    CELoss,
    CombinedLoss,
    DiceLoss,
    FocalLoss,
    JaccardLoss,
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    TverskyLoss,
    check_loss_spec,
    create_loss,
    list_losses,
    model_outputs,
    parse_loss_spec,
    resolve_loss_name,
)


@pytest.mark.parametrize(("spec", "canonical"), [
    ("ce", "ce"),
    ("ce+0.5*lovasz", "ce+0.5*lovasz"),
    ("0.7*focal+0.3*tversky", "0.7*focal+0.3*tversky"),
    ("bce+dice", "bce+dice"),
    ("  CE + 0.50 * Dice ", "ce+0.5*dice"),
    ("1*jaccard+2*focal", "jaccard+2*focal"),
    ("bce + 1e-1*lovasz-hinge", "bce+0.1*lovasz-hinge"),
    ("1e+1*dice+ce", "10*dice+ce"),  # the '+' of an exponent joins no terms
    ("0.123456789*dice", "0.123456789*dice"),
])
def test_valid_specs_and_their_canonical_form(spec: str, canonical: str) -> None:
    check_loss_spec(spec)
    assert str(parse_loss_spec(spec)) == canonical
    assert str(parse_loss_spec(canonical)) == canonical


def test_parsed_terms_and_weights() -> None:
    assert parse_loss_spec(" ce + 0.5 * lovasz ").terms == (("ce", 1.0), ("lovasz", 0.5))


@pytest.mark.parametrize(("spec", "message"), [
    ("", "names no loss"),
    ("   ", "names no loss"),
    ("ce+", "empty term"),
    ("+ce", "empty term"),
    ("ce++dice", "empty term"),
    ("focl", "unknown term 'focl'; valid terms: ce, bce, dice, jaccard, focal, tversky, lovasz, lovasz-hinge"),
    ("ce+0.5*lovasz-softmax", "unknown term 'lovasz-softmax'"),
    ("0*ce", "finite number > 0, got 0"),
    ("ce+-1*dice", "finite number > 0, got -1"),
    ("nan*ce", "finite number > 0, got nan"),
    ("inf*dice+ce", "finite number > 0, got inf"),
    ("x*ce", "weight 'x' of term 'x\\*ce' is not a number"),
    ("*ce", "weight '' of term '\\*ce' is not a number"),
    ("ce*", "names no loss"),
    ("ce*0.5", "unknown term '0.5'"),
    ("2*0.5*ce", "more than one '\\*'"),
    ("ce+dice+0.5*ce", "'ce' appears more than once"),
    ("auto+dice", "'auto' stands alone"),
    ("bce+lovasz", "mixes binary-only terms \\(bce: one logit channel\\) with multi-class terms \\(lovasz"),
    ("ce+lovasz-hinge", "mixes binary-only terms \\(lovasz-hinge"),
])
def test_bad_specs_are_one_line_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        check_loss_spec(spec)
    assert "\n" not in str(err.value)


def test_auto_and_list_losses() -> None:
    check_loss_spec("auto")
    check_loss_spec(" Auto ")
    assert list_losses() == ["auto", "ce", "bce", "dice", "jaccard", "focal", "tversky", "lovasz", "lovasz-hinge"]
    assert resolve_loss_name("auto", 2) == "bce+dice"
    assert resolve_loss_name("auto", 7) == "ce+dice"
    with pytest.raises(ConfigError, match="resolve|names no loss|'auto' stands alone"):
        parse_loss_spec("auto")


@pytest.mark.parametrize(("spec", "num_classes", "outputs"), [
    ("auto", 2, 1), ("auto", 4, 4), ("bce+dice", 2, 1), ("dice", 2, 2), ("focal+lovasz-hinge", 2, 1),
    ("ce+dice", 2, 2), ("0.7*focal+0.3*tversky", 5, 5), ("ce+0.5*lovasz", 3, 3), ("jaccard+bce", 2, 1),
])
def test_model_outputs_follow_the_binary_rule(spec: str, num_classes: int, outputs: int) -> None:
    assert model_outputs(spec, num_classes) == outputs


def test_binary_terms_need_binary_data() -> None:
    with pytest.raises(ConfigError, match="lovasz-hinge is for binary data .* the data has 4 classes"):
        resolve_loss_name("dice+lovasz-hinge", 4)
    with pytest.raises(ConfigError, match="binary"):
        create_loss("bce", 3)
    assert resolve_loss_name("ce + lovasz", 2) == "ce+lovasz"  # multi-class terms take two-class data on 2 channels


def batch(channels: int, num_classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, channels, 5, 6, generator=gen)
    target = torch.randint(0, num_classes, (2, 5, 6), generator=gen)
    target[1, 0] = 255
    return logits, target


@pytest.mark.parametrize(("spec", "num_classes", "parts"), [
    ("ce+0.5*lovasz", 3, [(1.0, CELoss()), (0.5, LovaszSoftmaxLoss())]),
    ("0.7*focal+0.3*tversky", 4, [(0.7, FocalLoss()), (0.3, TverskyLoss())]),
    ("bce+dice", 2, [(1.0, BCELoss()), (1.0, DiceLoss())]),
    ("bce + 2*lovasz-hinge + jaccard", 2, [(1.0, BCELoss()), (2.0, LovaszHingeLoss()), (1.0, JaccardLoss())]),
    ("3*dice", 3, [(3.0, DiceLoss())]),
])
def test_created_sum_equals_the_weighted_parts(spec: str, num_classes: int, parts: list[tuple[float, torch.nn.Module]]
                                               ) -> None:
    logits, target = batch(model_outputs(spec, num_classes), num_classes)
    loss = create_loss(spec, num_classes)
    assert isinstance(loss, CombinedLoss)
    expected = sum(w * part(logits, target).item() for w, part in parts)
    assert loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_single_term_is_the_bare_loss_and_class_weights_reach_every_term() -> None:
    assert isinstance(create_loss("lovasz", 3), LovaszSoftmaxLoss)
    weights = [1.0, 2.0, 0.5]
    logits, target = batch(3, 3)
    loss = create_loss("ce+0.5*dice+focal", 3, class_weights=weights)
    expected = (CELoss(weight=weights)(logits, target) + 0.5 * DiceLoss(weight=weights)(logits, target)
                + FocalLoss(weight=weights)(logits, target)).item()
    assert loss(logits, target).item() == pytest.approx(expected, rel=1e-6)
    assert loss(logits, target).item() != pytest.approx(create_loss("ce+0.5*dice+focal", 3)(logits, target).item())


def test_class_weights_checked_against_the_terms() -> None:
    with pytest.raises(ConfigError, match="expected 3 values, got 2"):
        create_loss("ce", 3, class_weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match="class weights do not apply to lovasz-hinge") as err:
        create_loss("bce+lovasz-hinge", 2, class_weights=[1.0, 2.0])
    assert "\n" not in str(err.value)
    create_loss("bce+dice", 2, class_weights=[1.0, 2.0])  # binary data: (background, foreground)
    create_loss("auto", 2, class_weights=[1.0, 2.0])
