"""Render job specs: layered params merged and fed to an execution's jsonnet template.

A job's params come in layers, lowest first: the execution's ``default_params`` (``execution:<key>``), the job's
dimension values ordered by dimension priority then dimension key (``dimension:<dim>=<value>``), and the job's own
params (``job``). A higher layer wins; objects deep-merge, scalars and arrays replace. A top-level key may be dotted
(``resources.cpu``), which means the nested object ``{"resources": {"cpu": ...}}``.

The template sees the merged params as the variable ``params`` and must evaluate to a JSON object: the spec handed to
the orchestrator. Secret params (``{"_striv_type": "secret", "encrypted": "..."}``) are shown as ``"<redacted>"`` in
preview mode and decrypted in push mode.

The package is pure: no Django, no I/O, no import of striv's apps. Every failure is a ``RenderError`` naming the
layer and param, or the template line and column. Its modules, one idea each:

- ``layers``: LayerName, Layer, Rendered          - ``errors``: RenderError
- ``params``: one layer's keys and values checked  - ``merge``: layers merged, with provenance
- ``secrets``: secrets found, redacted, decrypted  - ``jsonnet``: template evaluation and its errors
- ``render``: one job, and the spec hash           - ``batch``: many jobs of one execution at once
"""

from striv.secret import REDACTED, is_secret
from striv.templating.batch import BATCH_CHUNK_SIZE, job_specs_render
from striv.templating.errors import RenderError
from striv.templating.jsonnet import template_check
from striv.templating.layers import (
    LAYER_JOB,
    Layer,
    LayerName,
    Rendered,
    dimension_layers,
    layer_name_dimension,
    layer_name_execution,
)
from striv.templating.merge import params_merge
from striv.templating.params import PARAM_KEY_RE, SECRET_TYPE, SECRET_TYPE_KEY, params_validate
from striv.templating.render import Mode, job_spec_render, spec_hash
from striv.templating.secrets import Decrypt, iter_secrets, secret_texts

__all__ = [
    "BATCH_CHUNK_SIZE",
    "LAYER_JOB",
    "PARAM_KEY_RE",
    "REDACTED",
    "SECRET_TYPE",
    "SECRET_TYPE_KEY",
    "Decrypt",
    "Layer",
    "LayerName",
    "Mode",
    "RenderError",
    "Rendered",
    "dimension_layers",
    "is_secret",
    "iter_secrets",
    "job_spec_render",
    "job_specs_render",
    "layer_name_dimension",
    "layer_name_execution",
    "params_merge",
    "params_validate",
    "secret_texts",
    "spec_hash",
    "template_check",
]
