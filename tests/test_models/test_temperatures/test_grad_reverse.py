import pytest
import torch

from mmrlkd.models.temperatures.grad_reverse import grad_reverse


@pytest.mark.parametrize('strength', [0.0, 0.3, 1.0])
def test_identity_forward_and_reversed_scaled_gradient(strength):
    x = torch.randn(5, requires_grad=True)
    weights = torch.randn(5)
    y = grad_reverse(x, strength)
    torch.testing.assert_close(y, x)
    (y * weights).sum().backward()
    # Without the layer the gradient would be `weights`.
    torch.testing.assert_close(x.grad, -strength * weights)


def test_negative_strength_is_rejected():
    with pytest.raises(ValueError, match='strength'):
        grad_reverse(torch.ones(1), -1.0)
