"""Saved-output regression test; see artifacts/regenerate_policy_regression.py for when to regenerate."""

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).parent / "artifacts" / "regenerate_policy_regression.py"


def _script():
    spec = importlib.util.spec_from_file_location("regenerate_policy_regression", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_seeded_policy_matches_saved_outputs():
    script = _script()
    stored = np.load(script.ARTIFACT)
    outputs = script.compute_outputs()
    assert set(stored.files) == set(outputs)
    for name, value in outputs.items():
        assert value.shape == stored[name].shape, name
        np.testing.assert_allclose(value, stored[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert np.abs(stored["unet_eps"]).max() > 0  # a real output, not an all-zero placeholder
