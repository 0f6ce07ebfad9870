import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from codediffuser_perception.ros_params import (
    ConfigError,
    add_config_arguments,
    config_from_arguments,
    config_from_params,
    config_to_params,
    load_node_params,
    param_specs,
)


@dataclass
class Inner:
    """Nested settings.

    Attributes:
        low, high: a range, metres.
        names: optional camera names; empty = any.
    """

    low: float = 0.0
    high: float = 1.0
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got {self.low} .. {self.high}")


@dataclass
class WithSequence:
    """Abstract sequences, optional (as in the policy's safety limits).

    Attributes:
        lower: optional limits, rad; empty = from the robot model.
        box: a corner.
    """

    lower: Sequence[float] | None = None
    box: Sequence[float] = (0.0, 1.0)


@dataclass
class Outer:
    """Top-level settings.

    Attributes:
        rate_hz: loop rate in Hz; a long
            description over two lines.
        enabled: whether it runs.
        steps: per-layer widths.
        label: a free text.
        inner: nested settings.
    """

    rate_hz: float = 50.0
    enabled: bool = True
    steps: tuple[int, ...] = (1, 2)
    label: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_specs_flatten_nested_fields_with_their_descriptions():
    specs = {s.name: s for s in param_specs(Outer)}
    assert sorted(specs) == ["enabled", "inner.high", "inner.low", "inner.names", "label", "rate_hz", "steps"]
    assert specs["rate_hz"].description == "loop rate in Hz; a long description over two lines."
    assert specs["inner.high"].description == "a range, metres."
    assert specs["inner.names"].default == []
    assert specs["inner.names"].optional
    assert specs["steps"].default == [1, 2]
    assert specs["steps"].kind is int


def test_round_trip_through_flat_params():
    cfg = Outer(rate_hz=10.0, inner=Inner(low=0.5, names=("cam0",)))
    params = config_to_params(cfg)
    assert params["inner.names"] == ["cam0"]
    assert config_from_params(Outer, params) == cfg


def test_empty_value_means_none_and_ints_widen_to_float():
    cfg = config_from_params(Outer, {"inner.names": [], "rate_hz": 20})
    assert cfg.inner.names is None
    assert cfg.rate_hz == 20.0
    assert isinstance(cfg.rate_hz, float)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"rate": 1.0}, "unknown parameters \\['rate'\\]"),
        ({"enabled": "yes"}, "'enabled' must be true or false"),
        ({"steps": 3}, "'steps' must be a list of int"),
        ({"inner.low": 2.0}, "low must be < high"),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_params(Outer, values)


def test_unsupported_field_types_fail_when_the_schema_is_built():
    @dataclass
    class Bad:
        """Bad.

        Attributes:
            table: a mapping.
        """

        table: dict = field(default_factory=dict)

    with pytest.raises(TypeError, match="unsupported parameter type"):
        param_specs(Bad)


def test_undocumented_field_is_refused():
    @dataclass
    class Undocumented:
        """No attributes section."""

        x: int = 1

    with pytest.raises(TypeError, match="no entry"):
        param_specs(Undocumented)


def test_parameter_file_sections_and_wildcard(tmp_path):
    path = tmp_path / "nodes.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    label: common\n    rate_hz: 5.0\n"
        "my_node:\n  ros__parameters:\n    rate_hz: 7.0\n    inner:\n      low: 0.25\n"
    )
    values = load_node_params(path, "my_node")
    assert values == {"label": "common", "rate_hz": 7.0, "inner.low": 0.25}
    with pytest.raises(ConfigError, match="no section for node 'other'"):
        load_node_params(path, "other")


def test_cli_flags_override_the_parameter_file():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Outer)
    args = parser.parse_args(["--rate-hz", "3", "--no-enabled", "--inner.names", "a", "b"])
    cfg = config_from_arguments(Outer, args, base={"rate_hz": 9.0, "label": "file"})
    assert (cfg.rate_hz, cfg.enabled, cfg.label, cfg.inner.names) == (3.0, False, "file", ("a", "b"))


def test_abstract_sequences_map_to_arrays():
    specs = {s.name: s for s in param_specs(WithSequence)}
    assert (specs["lower"].is_sequence, specs["lower"].optional, specs["lower"].default) == (True, True, [])
    assert specs["box"].default == [0.0, 1.0]
    cfg = config_from_params(WithSequence, {"lower": [-1.0, 2], "box": []})
    assert cfg.lower == (-1.0, 2.0)
    assert cfg.box == ()
