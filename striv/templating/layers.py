"""Param layers and what a rendering returns: the types every other templating module works with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

LayerKind = Literal["execution", "dimension", "job"]


class LayerName(str):
    """The name of a param layer: ``execution:<key>``, ``dimension:<dim>=<value>`` or ``job``.

    It is a ``str`` so that provenance, API errors and messages carry the layer's name as plain text, and it keeps
    the parts it was made of as attributes (``kind``, ``key``, ``value``), so code that needs them reads them
    instead of parsing the text back. Make one with ``execution()``, ``dimension()`` or ``job()``.
    """

    kind: LayerKind
    key: str
    value: str

    def __new__(cls, kind: LayerKind, key: str = "", value: str = "") -> LayerName:
        if kind == "execution":
            text = f"execution:{key}"
        elif kind == "dimension":
            text = f"dimension:{key}={value}"
        elif kind == "job":
            text = "job"
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        name = super().__new__(cls, text)
        name.kind = kind
        name.key = key
        name.value = value
        return name

    def __reduce__(self) -> tuple[Any, ...]:
        return (LayerName, (self.kind, self.key, self.value))

    @property
    def label(self) -> str:
        """The layer as people read it: ``job``, ``execution greeter``, ``customer = acme``."""
        if self.kind == "execution":
            return f"execution {self.key}"
        if self.kind == "dimension":
            return f"{self.key} = {self.value}"
        return "job"

    @classmethod
    def execution(cls, key: str) -> LayerName:
        """The layer of an execution's default params."""
        return cls("execution", key)

    @classmethod
    def dimension(cls, dimension: str, value: str) -> LayerName:
        """The layer of a dimension value's params; ``key`` is the dimension, ``value`` the value's key."""
        return cls("dimension", dimension, value)

    @classmethod
    def job(cls) -> LayerName:
        """The layer of a job's own params."""
        return LAYER_JOB


LAYER_JOB: LayerName = LayerName("job")


def layer_name_execution(key: str) -> LayerName:
    """Return the layer name of an execution's default params: ``execution:<key>``."""
    return LayerName.execution(key)


def layer_name_dimension(dim: str, value: str) -> LayerName:
    """Return the layer name of a dimension value's params: ``dimension:<dim>=<value>``."""
    return LayerName.dimension(dim, value)


@dataclass(frozen=True)
class Layer:
    """One layer of params: its name and its params as written (dotted keys allowed)."""

    name: str  # a LayerName in striv's own code; tests of the pure functions may use plain text
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Rendered:
    """A rendered job.

    ``spec`` is the template's result (with secrets in cleartext in push mode). ``params`` are the effective params
    with secrets always shown as ``"<redacted>"``, so they can be displayed or stored. ``provenance`` maps each leaf
    param path (``resources.cpu``; arrays and secrets are leaves) to the name of the layer that set it.
    """

    spec: dict
    params: dict
    provenance: dict[str, str]


def dimension_layers(values: Iterable[tuple[str, int, str, Mapping[str, Any]]]) -> list[Layer]:
    """Return layers for ``(dimension key, priority, value key, params)`` tuples, lowest priority first.

    Ties in priority are broken by dimension key so that the order, and thus who wins, never depends on input order.
    """
    ordered = sorted(values, key=lambda item: (item[1], item[0]))
    return [Layer(LayerName.dimension(dim, value), params) for dim, _, value, params in ordered]
