"""Merging param layers, lowest first, with the provenance of every leaf.

A higher layer wins; objects deep-merge, scalars, arrays and secrets replace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from striv.templating.layers import Layer
from striv.templating.params import SECRET_TYPE_KEY, layer_expand


def _provenance_record(value: dict, prefix: str, layer: str, provenance: dict[str, str]) -> None:
    """Record ``layer`` for every leaf below the object ``value`` (at path ``prefix`` + key)."""
    for key, item in value.items():
        # Empty objects are recorded as leaves so that a param set to {} still shows where it came from.
        if type(item) is dict and item and SECRET_TYPE_KEY not in item:
            _provenance_record(item, f"{prefix}{key}.", layer, provenance)
        else:
            provenance[prefix + key] = layer


def _provenance_drop(provenance: dict[str, str], path: str) -> None:
    below = path + "."
    for key in [key for key in provenance if key == path or key.startswith(below)]:
        del provenance[key]


# Merged params are built without ever changing an object once made: merging a layer copies only the objects on the
# paths it sets and shares everything else with the layers below it. That makes it safe to keep merged prefixes and
# expanded layers in a cache and hand them to many jobs.


def _merge_over(base: dict, src: dict, prefix: str, layer: str, provenance: dict[str, str]) -> dict:
    """Return the expanded layer ``src`` merged over ``base``, recording in ``provenance`` where each leaf came from.

    Neither ``base`` nor ``src`` is changed; the result shares their untouched objects.
    """
    if not src:
        return base
    if not base:
        _provenance_record(src, prefix, layer, provenance)
        return src
    out = base.copy()
    for key, value in src.items():
        old = out.get(key, _MISSING)
        if type(old) is dict and old and SECRET_TYPE_KEY not in old:
            if type(value) is dict and SECRET_TYPE_KEY not in value:
                out[key] = _merge_over(old, value, f"{prefix}{key}.", layer, provenance)
                continue
            # An object replaced by a leaf: its leaves no longer exist.
            _provenance_drop(provenance, prefix + key)
        out[key] = value
        if type(value) is dict and value and SECRET_TYPE_KEY not in value:
            if old is not _MISSING:
                provenance.pop(prefix + key, None)
            _provenance_record(value, f"{prefix}{key}.", layer, provenance)
        else:
            provenance[prefix + key] = layer
    return out


_MISSING = object()


class _Merged:
    """Params merged from a run of layers (lowest first), and the runs one layer longer that extend it."""

    __slots__ = ("params", "provenance", "has_secret", "next")

    def __init__(self, params: dict, provenance: dict[str, str], has_secret: bool) -> None:
        self.params = params
        self.provenance = provenance
        self.has_secret = has_secret
        self.next: dict[tuple[int, str], _Merged] = {}


class MergeCache:
    """Expanded layers and merged runs of layers, shared by the jobs of one batch render.

    The execution's and dimension values' layers are the same params objects for many jobs, so each is checked and
    expanded once, and each distinct run of them (execution, execution + first dimension, ...) is merged once: only
    a job's last layer, its own params, is merged per job. Layers are keyed by the identity of their params and
    their name; ``expanded`` holds those params, so no identity is reused while the cache lives. Nothing stored is
    changed afterwards.
    """

    def __init__(self) -> None:
        self.expanded: dict[tuple[int, str], tuple[Mapping[str, Any], dict, bool]] = {}
        self.root = _Merged({}, {}, False)

    def merge(self, layers: Sequence[Layer]) -> tuple[dict, dict[str, str], bool]:
        """Return ``(params, provenance, has_secret)`` for ``layers``; raises RenderError as _layer_expand does."""
        if not layers:
            return {}, {}, False
        node = self.root
        for layer in layers[:-1]:
            key = (id(layer.params), layer.name)
            child = node.next.get(key)
            if child is None:
                hit = self.expanded.get(key)
                if hit is None:
                    hit = self.expanded[key] = (layer.params, *layer_expand(layer.params, layer.name))
                provenance = node.provenance.copy()
                params = _merge_over(node.params, hit[1], "", layer.name, provenance)
                child = node.next[key] = _Merged(params, provenance, node.has_secret or hit[2])
            node = child
        last = layers[-1]
        expanded, found = layer_expand(last.params, last.name)
        provenance = node.provenance.copy()
        params = _merge_over(node.params, expanded, "", last.name, provenance)
        return params, provenance, node.has_secret or found


def layers_merge(layers: Sequence[Layer], cache: MergeCache | None = None) -> tuple[dict, dict[str, str], bool]:
    """Return ``(params, provenance, has_secret)`` for ``layers``; the params share objects with ``cache``."""
    if cache is not None:
        return cache.merge(layers)
    merged: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    has_secret = False
    for layer in layers:
        expanded, found = layer_expand(layer.params, layer.name)
        has_secret = has_secret or found
        merged = _merge_over(merged, expanded, "", layer.name, provenance)
    return merged, provenance, has_secret


def params_merge(layers: Sequence[Layer]) -> tuple[dict, dict[str, str]]:
    """Merge ``layers`` (lowest first) into effective params.

    Returns ``(params, provenance)``: the params as nested JSON with secrets still as secret objects, and the layer
    name that set each leaf path. Raises RenderError naming the layer and key of invalid params.
    """
    merged, provenance, _ = layers_merge(layers)
    return merged, provenance
