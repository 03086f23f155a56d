"""WiSE-FT: the saved embedder's weights lie between the base's and the tuned ones."""

import torch

from training.embedder_tune import mix_weights


class Tiny(torch.nn.Module):
    def __init__(self, fill: float) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        torch.nn.init.constant_(self.linear.weight, fill)
        torch.nn.init.constant_(self.linear.bias, fill)
        self.register_buffer("position_ids", torch.arange(3))


def test_mixing_moves_float_weights_toward_the_base_and_leaves_integer_buffers():
    base = {k: v.clone() for k, v in Tiny(0.0).state_dict().items()}
    tuned = Tiny(1.0)
    tuned.position_ids += 5  # an integer buffer is never averaged
    mix_weights(tuned, base, 0.25)
    assert torch.allclose(tuned.linear.weight, torch.full((2, 2), 0.25))
    assert torch.allclose(tuned.linear.bias, torch.full((2,), 0.25))
    assert tuned.position_ids.tolist() == [5, 6, 7]
    unchanged = Tiny(1.0)
    mix_weights(unchanged, base, 1.0)
    assert torch.allclose(unchanged.linear.weight, torch.ones(2, 2))
