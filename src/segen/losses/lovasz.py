"""Lovasz losses (Berman et al. 2018): convex surrogates of the Jaccard (IoU) loss, pooled over the batch.

* ``lovasz`` (Lovasz-softmax): multi-class, C logit channels. Per class, the errors |t_c - p_c| of the valid
  pixels, sorted, weighted by the Lovasz extension's gradient of the class's Jaccard loss; the mean over the
  classes present in the batch's truth (weighted by class weights when given). On hard (one-hot) predictions it
  is exactly 1 - IoU per class.
* ``lovasz-hinge``: binary, one logit channel x. The foreground Jaccard loss extended over the hinge errors
  1 - x * (2t - 1). It scores the foreground alone, so it takes no class weights, and a batch with no
  foreground in its truth has no term (a zero loss), as for an absent class above.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segen.losses.seg_common import SegLoss, class_probs, present_class_mean, zero_loss


def lovasz_grad(truth_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss at errors sorted in decreasing order (dim 0).

    Args:
        truth_sorted: 0/1 truth of the pixels in the errors' order, P or P,K (one column per class); every
            column holds at least one 1.
    """
    total = truth_sorted.sum(dim=0)
    intersection = total - truth_sorted.cumsum(dim=0)
    union = total + (1 - truth_sorted).cumsum(dim=0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]], dim=0)


class LovaszSoftmaxLoss(SegLoss):
    """Lovasz-softmax loss over C >= 2 logit channels (a binary model's counterpart is `LovaszHingeLoss`)."""

    name = "lovasz"
    form = "multi-class"

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_logits(logits)
        valid = target != self.ignore_index
        probs = class_probs(logits)
        classes = torch.arange(probs.shape[1], device=target.device)
        truth = (target[valid].unsqueeze(1) == classes).float()  # P,K
        present = truth.sum(dim=0) > 0
        if not present.any():
            return zero_loss(logits)
        truth = truth[:, present]
        errors = (truth - probs.permute(0, 2, 3, 1)[valid][:, present]).abs()
        errors, order = errors.sort(dim=0, descending=True)
        losses = (errors * lovasz_grad(truth.gather(0, order))).sum(dim=0)
        return present_class_mean(losses, self.weight, present)


class LovaszHingeLoss(SegLoss):
    """Lovasz hinge loss on one logit channel: the foreground IoU surrogate of a binary model."""

    name = "lovasz-hinge"
    form = "binary"
    takes_class_weights = False

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_logits(logits)
        valid = target != self.ignore_index
        fg = (target[valid] == 1).float()
        if fg.sum() == 0:
            return zero_loss(logits)
        errors = 1 - logits[:, 0].float()[valid] * (2 * fg - 1)
        errors, order = errors.sort(descending=True)
        return torch.dot(F.relu(errors), lovasz_grad(fg[order]))
