import pytest
import torch

from codediffuser_policy.ema import EMA


def test_ema_follows_the_warm_up_formula():
    param = torch.nn.Parameter(torch.zeros(3))
    ema = EMA([param], power=0.75, max_decay=0.9)
    expected = torch.zeros(3)
    for step in range(20):
        with torch.no_grad():
            param.fill_(float(step + 1))
        decay = min(0.9, 1 - (1 + step) ** -0.75)
        assert ema.decay() == pytest.approx(decay)
        ema.step([param])
        expected = decay * expected + (1 - decay) * (step + 1)
    torch.testing.assert_close(ema.shadow[0], expected)
    target = torch.nn.Parameter(torch.empty(3))
    ema.copy_to([target])
    torch.testing.assert_close(target.data, expected)


def test_ema_state_round_trip_and_mismatch():
    params = [torch.nn.Parameter(torch.randn(2, 2)), torch.nn.Parameter(torch.randn(4))]
    ema = EMA(params)
    ema.step(params)
    other = EMA([torch.nn.Parameter(torch.zeros(2, 2)), torch.nn.Parameter(torch.zeros(4))])
    other.load_state_dict(ema.state_dict())
    assert other.step_count == 1
    torch.testing.assert_close(other.shadow[1], ema.shadow[1])
    with pytest.raises(ValueError, match="does not match"):
        EMA([torch.nn.Parameter(torch.zeros(3))]).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="max_decay"):
        EMA(params, max_decay=1.0)
