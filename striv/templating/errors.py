"""RenderError: every way a job can fail to render, with where it failed as data."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["params", "secret", "syntax", "runtime", "result", "spec"]
# Kinds that belong to the execution's template rather than to a param layer.
TEMPLATE_KINDS: frozenset[str] = frozenset({"syntax", "runtime", "result"})


class RenderError(Exception):
    """A job cannot be rendered: bad params, an undecryptable secret, a failing template or a refused spec.

    ``message`` is a full sentence (also ``str(error)``). ``layer`` is the name of the param layer at fault (a
    ``LayerName``: ``job``, ``execution:<key>``, ``dimension:<dim>=<value>``, whose parts are attributes) and
    ``param`` the dotted param path, when the fault is in params. ``line`` and ``column`` (1-based) locate a
    template fault. ``kind`` is one of ``params``, ``secret``, ``syntax`` (the template does not compile),
    ``runtime`` (it fails while evaluating), ``result`` (it does not evaluate to an object) and ``spec`` (the
    driver refuses the rendered spec; ``param`` is then the spec field).
    """

    def __init__(
        self,
        message: str,
        *,
        layer: str | None = None,
        param: str | None = None,
        line: int | None = None,
        column: int | None = None,
        kind: str = "params",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.layer = layer
        self.param = param
        self.line = line
        self.column = column
        self.kind = kind

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RenderError({self.message!r}, kind={self.kind!r}, layer={self.layer!r}, param={self.param!r})"

    def __reduce__(self) -> tuple:
        # Keyword-only attributes would be lost by Exception's default pickling.
        return (_render_error_rebuild, (self.message, self.layer, self.param, self.line, self.column, self.kind))

    @property
    def in_template(self) -> bool:
        """Whether the fault is in the execution's template (syntax, runtime, result) rather than in a layer."""
        return self.kind in TEMPLATE_KINDS

    def copy(self) -> RenderError:
        """Return an equal, independent error (for handing one template fault to many jobs)."""
        return _render_error_rebuild(self.message, self.layer, self.param, self.line, self.column, self.kind)


def _render_error_rebuild(
    message: str, layer: str | None, param: str | None, line: int | None, column: int | None, kind: str
) -> RenderError:
    return RenderError(message, layer=layer, param=param, line=line, column=column, kind=kind)
