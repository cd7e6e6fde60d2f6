"""Rendering one job: merge its layers, show or decrypt its secrets, evaluate the template; and the spec hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from striv.templating import jsonnet
from striv.templating.layers import Layer, Rendered
from striv.templating.merge import MergeCache, layers_merge
from striv.templating.secrets import Decrypt, decrypter, params_top_replace, redact

Mode = Literal["preview", "push"]

# What json.dumps(value, separators=...) returns, without building an encoder per call.
_json_compact = json.JSONEncoder(separators=(",", ":")).encode
_json_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


@dataclass(slots=True)
class Prepared:
    """A job's params ready for the template: what is shown, provenance, and the JSON the template sees."""

    shown_params: dict
    provenance: dict[str, str]
    params_json: str

    def rendered(self, spec: dict) -> Rendered:
        return Rendered(spec=spec, params=self.shown_params, provenance=self.provenance)


def prepare(
    layers: Sequence[Layer],
    *,
    mode: Mode,
    decrypt: Decrypt | None,
    cache: MergeCache | None = None,
    memo: dict[str, str] | None = None,
) -> Prepared:
    """Merge ``layers`` and make the JSON the template sees (secrets redacted, or decrypted in push mode).

    Raises RenderError for invalid params or a secret that cannot be decrypted.
    """
    merged, provenance, has_secret = layers_merge(layers, cache)
    if has_secret:
        shown = params_top_replace(merged, redact)
        if mode == "push":
            seen = params_top_replace(merged, decrypter(decrypt, provenance, {} if memo is None else memo))
        else:
            seen = shown
    else:
        shown = seen = merged
    return Prepared(shown, provenance, _json_compact(seen))


def mode_check(mode: str) -> None:
    if mode not in ("preview", "push"):
        raise ValueError(f"mode must be 'preview' or 'push', not {mode!r}")


def job_spec_render(
    template: str,
    layers: Sequence[Layer],
    *,
    execution_key: str,
    mode: Mode = "preview",
    decrypt: Decrypt | None = None,
) -> Rendered:
    """Render one job: merge ``layers`` (lowest first) and evaluate ``template`` with them as ``params``.

    In ``preview`` mode secrets reach the template as ``"<redacted>"``; in ``push`` mode as ``decrypt(encrypted)``.
    Returns the Rendered spec, effective params (secrets redacted) and provenance. Raises RenderError for invalid
    params, a secret that cannot be decrypted, a template error (with line and column) or a non-object result.
    """
    mode_check(mode)
    prepared = prepare(layers, mode=mode, decrypt=decrypt)
    return prepared.rendered(jsonnet.evaluate(template, prepared.params_json, execution_key))


def spec_hash(spec: dict) -> str:
    """Return the sha256 hex digest of ``spec`` as canonical JSON (sorted keys, compact separators)."""
    canonical = _json_canonical(spec)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
