"""rclpy-like message classes generated from the typestore, with CDR round-trips through rosbags.

Why: a node written for real ROS builds messages the rclpy way (`Image()`, then set fields; nested
defaults; `Trigger.Request`). These classes behave like rosidl_generator_py's: default-constructible,
`__slots__` (a misspelt field raises AttributeError) and the same setter checks (a float field refuses an
int or a `numpy.float32`; an unbounded numeric sequence takes an `array.array` of the right type code or a
list, never a numpy array; a fixed array is a numpy array of its dtype). Storage matches rclpy too:
numeric sequences are `array.array`, fixed numeric arrays `numpy.ndarray`, the rest lists.

`roundtrip(msg)` serialises through the real definition with rosbags' CDR codec and back, which the
harness does for every message and service payload so that a layout mistake fails the test.
"""

from __future__ import annotations

import array
import functools
import math
import types
from collections.abc import Sequence, Set
from typing import Any, ClassVar

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys.base import normalize_fieldname

from codediffuser.interfaces import get_typestore

EMPTY_MEMBER = "structure_needs_at_least_one_member"
TYPECODES = {
    "int8": "b",
    "uint8": "B",
    "byte": "B",
    "char": "B",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
FLOAT32_MAX = 3.402823466e38


def _int_range(base: str) -> tuple[int, int]:
    if base in INT_BITS:
        half = 1 << (INT_BITS[base] - 1)
        return -half, half - 1
    bits = 8 if base in ("uint8", "byte", "char") else int(base[4:])
    return 0, (1 << bits) - 1


def _check_scalar(base: str, bound: int, value: Any) -> bool:
    """Apply rclpy's check for one value of a primitive type."""
    if base == "bool":
        return isinstance(value, bool)
    if base == "string":
        return isinstance(value, str) and (bound == 0 or len(value) <= bound)
    if base in ("float32", "float64"):
        if not isinstance(value, float):
            return False
        return base == "float64" or math.isinf(value) or not (abs(value) > FLOAT32_MAX)
    low, high = _int_range(base)
    return isinstance(value, int) and low <= value <= high


class Message:
    """Base of the generated classes; `_typename` is the ROS 2 name, e.g. "sensor_msgs/msg/Image"."""

    __slots__ = ()
    _typename: ClassVar[str]
    _fielddefs: ClassVar[list[tuple[str, tuple]]]
    _fieldmap: ClassVar[dict[str, tuple]]
    _registry: ClassVar[dict[str, type[Message]]]

    def __init__(self, **kwargs: Any) -> None:
        names = [name for name, _ in self._fielddefs]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise AssertionError(f"Invalid arguments passed to constructor: {', '.join(unknown)}")
        for name, desc in self._fielddefs:
            setattr(self, name, kwargs[name] if name in kwargs else self._default(desc))

    @classmethod
    def _default(cls, desc: tuple) -> Any:
        kind, detail = desc
        if kind == Nodetype.NAME:
            return cls._registry[detail]()
        if kind == Nodetype.BASE:
            return {"bool": False, "string": ""}.get(detail[0], 0.0 if detail[0].startswith("float") else 0)
        (sub_kind, sub_detail), size = detail
        if sub_kind == Nodetype.BASE and sub_detail[0] in TYPECODES:
            if kind == Nodetype.ARRAY:
                return np.zeros(size, dtype=_numpy_dtype(sub_detail[0]))
            return array.array(TYPECODES[sub_detail[0]])
        return [cls._default((sub_kind, sub_detail)) for _ in range(size)] if kind == Nodetype.ARRAY else []

    def __setattr__(self, name: str, value: Any) -> None:
        desc = self._fieldmap.get(name)
        if desc is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        object.__setattr__(self, name, self._checked(name, desc, value))

    def _checked(self, name: str, desc: tuple, value: Any) -> Any:
        kind, detail = desc
        if kind == Nodetype.BASE:
            if not _check_scalar(detail[0], detail[1], value):
                raise AssertionError(f"The '{name}' field must be of type '{detail[0]}', got {value!r}")
            return value
        if kind == Nodetype.NAME:
            if not isinstance(value, self._registry[detail]):
                raise AssertionError(f"The '{name}' field must be a sub message of type '{detail}'")
            return value
        (sub_kind, sub_detail), size = detail
        base = sub_detail[0] if sub_kind == Nodetype.BASE else None
        if kind == Nodetype.ARRAY and base in TYPECODES and isinstance(value, np.ndarray):
            if value.dtype != self._default(desc).dtype or value.size != size:
                raise AssertionError(f"The '{name}' numpy.ndarray() must be {size} x {base}")
            return value
        if kind == Nodetype.SEQUENCE and base in TYPECODES and isinstance(value, array.array):
            if value.typecode != TYPECODES[base]:
                raise AssertionError(
                    f"The '{name}' array.array() must have the type code of '{TYPECODES[base]}'"
                )
            if size and len(value) > size:
                raise AssertionError(f"The '{name}' field holds at most {size} values")
            return value
        ok = isinstance(value, Sequence | Set) and not isinstance(value, str)
        ok = ok and (len(value) == size if kind == Nodetype.ARRAY else size == 0 or len(value) <= size)
        if ok and base is not None:
            ok = all(_check_scalar(base, sub_detail[1], v) for v in value)
        elif ok:
            ok = all(isinstance(v, self._registry[sub_detail]) for v in value)
        if not ok:
            shape = f"length {size}" if kind == Nodetype.ARRAY else "sequence"
            raise AssertionError(
                f"The '{name}' field must be a set or sequence ({shape}) of '{base or sub_detail}'"
            )
        if base in TYPECODES:
            return (
                np.array(value, dtype=self._default(desc).dtype)
                if kind == Nodetype.ARRAY
                else array.array(TYPECODES[base], value)
            )
        return list(value)

    @classmethod
    def get_fields_and_field_types(cls) -> dict[str, str]:
        return {name: str(desc) for name, desc in cls._fielddefs}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        return all(_equal(getattr(self, n), getattr(other, n)) for n, _ in self._fielddefs)

    __hash__ = None  # type: ignore[assignment]  # mutable, like rclpy's

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n, _ in self._fielddefs)
        return f"{self._typename.replace('/msg/', '.msg.').replace('/srv/', '.srv.')}({fields})"


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray | array.array) or isinstance(b, np.ndarray | array.array):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _numpy_dtype(base: str) -> np.dtype:
    return np.dtype(np.uint8 if base in ("byte", "char") else base)


def to_rosbags(msg: Message) -> Any:
    """Convert a fake message into the typestore's rosbags dataclass (for CDR)."""
    store = get_typestore()
    kwargs = {normalize_fieldname(n): _to_rb(getattr(msg, n), d) for n, d in msg._fielddefs}
    if not msg._fielddefs:
        kwargs[EMPTY_MEMBER] = 0
    return store.types[msg._typename](**kwargs)


def _to_rb(value: Any, desc: tuple) -> Any:
    kind, detail = desc
    if kind == Nodetype.BASE:
        return value
    if kind == Nodetype.NAME:
        return to_rosbags(value)
    (sub_kind, sub_detail), _ = detail
    if sub_kind == Nodetype.BASE and (sub_detail[0] in TYPECODES or sub_detail[0] == "bool"):
        dtype = np.dtype(np.bool_) if sub_detail[0] == "bool" else _numpy_dtype(sub_detail[0])
        return np.array(value, dtype=dtype)
    return [_to_rb(v, (sub_kind, sub_detail)) for v in value]


def from_rosbags(obj: Any, cls: type[Message]) -> Message:
    """Build a fake message of class `cls` from a rosbags dataclass (trusted: no setter checks)."""
    msg = cls.__new__(cls)
    for name, desc in cls._fielddefs:
        object.__setattr__(msg, name, _from_rb(getattr(obj, normalize_fieldname(name)), desc, cls))
    return msg


def _from_rb(value: Any, desc: tuple, cls: type[Message]) -> Any:
    kind, detail = desc
    if kind == Nodetype.BASE:
        return value
    if kind == Nodetype.NAME:
        return from_rosbags(value, cls._registry[detail])
    (sub_kind, sub_detail), _ = detail
    if sub_kind == Nodetype.BASE and sub_detail[0] in TYPECODES:
        if kind == Nodetype.ARRAY:
            return np.array(value, dtype=_numpy_dtype(sub_detail[0]))
        out = array.array(TYPECODES[sub_detail[0]])
        out.frombytes(np.ascontiguousarray(value, dtype=_numpy_dtype(sub_detail[0])).tobytes())
        return out
    if sub_kind == Nodetype.BASE:
        return [bool(v) if sub_detail[0] == "bool" else v for v in value]
    return [_from_rb(v, (sub_kind, sub_detail), cls) for v in value]


def to_cdr(msg: Message) -> bytes:
    """Serialise a fake message to little-endian CDR bytes with the real definition."""
    return bytes(get_typestore().serialize_cdr(to_rosbags(msg), msg._typename))


def from_cdr(data: bytes, cls: type[Message]) -> Message:
    """Deserialise CDR bytes into a fake message of class `cls`."""
    return from_rosbags(get_typestore().deserialize_cdr(data, cls._typename), cls)


def roundtrip(msg: Message) -> Message:
    """A copy of `msg` that went through CDR, as a subscriber or service would receive it."""
    return from_cdr(to_cdr(msg), type(msg))


class Service:
    """Base of the generated service classes: `Request` and `Response` are message classes."""

    _typename: ClassVar[str]
    Request: ClassVar[type[Message]]
    Response: ClassVar[type[Message]]


@functools.cache
def message_classes() -> dict[str, type]:
    """Every typestore type as a class: "pkg/msg/Name" -> Message subclass, "pkg/srv/Name" -> Service."""
    registry: dict[str, type] = {}
    for typename, (consts, fielddefs) in get_typestore().fielddefs.items():
        package, kind, name = typename.split("/")
        fields = [(n, d) for n, d in fielddefs if n != EMPTY_MEMBER]
        attrs = {
            "__slots__": tuple(n for n, _ in fields),
            "__module__": f"{package}.{kind}",
            "__doc__": f"Message class '{name}' ({typename}).",
            "_typename": typename,
            "_fielddefs": fields,
            "_fieldmap": dict(fields),
            "_registry": registry,
            **{cname: cvalue for cname, _ctype, cvalue in consts},
        }
        registry[typename] = type(name, (Message,), attrs)
    for typename in [t.removesuffix("_Request") for t in registry if t.endswith("_Request")]:
        if typename + "_Response" in registry:
            package, _, name = typename.split("/")
            registry[typename] = type(
                name,
                (Service,),
                {
                    "__module__": f"{package}.srv",
                    "__doc__": f"Service class '{name}' ({typename}).",
                    "_typename": typename,
                    "Request": registry[typename + "_Request"],
                    "Response": registry[typename + "_Response"],
                },
            )
    return registry


@functools.cache
def message_modules() -> dict[str, types.ModuleType]:
    """Importable modules by name: "sensor_msgs", "sensor_msgs.msg", "std_srvs.srv", ... (one set per process)."""
    modules: dict[str, types.ModuleType] = {}
    for typename, cls in message_classes().items():
        package, kind, name = typename.split("/")
        top = modules.setdefault(
            package, types.ModuleType(package, f"Fake {package} (codediffuser.testing).")
        )
        sub = modules.setdefault(f"{package}.{kind}", types.ModuleType(f"{package}.{kind}"))
        setattr(top, kind, sub)
        setattr(sub, name, cls)
    return modules
