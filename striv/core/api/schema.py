"""The OpenAPI AutoSchema: documents the problem responses of every operation."""

from __future__ import annotations

from http import HTTPStatus

from drf_spectacular.openapi import AutoSchema

from striv.core.api.base import required_role
from striv.core.api.problems import PROBLEM_CONTENT_TYPE, ProblemSerializer


class StrivAutoSchema(AutoSchema):
    """Adds the problem responses each operation can give, so every error is in the schema.

    Every authenticated operation may answer 401 and 403; bodies may answer 400 and 415; lists 400 (filters) and
    404 (a bad cursor); detail routes 404. A view adds more with ``problem_statuses = {"action": (412, 503)}``.
    """

    def get_auth(self):
        auths = super().get_auth()
        if required_role(self.view, self.method) is None and {} not in auths:
            auths.append({})  # authentication optional
        return auths

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in sorted(self._problem_statuses()):
            code = str(status)
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ProblemSerializer, code, media_types=[PROBLEM_CONTENT_TYPE], direction=direction
                )
            if not responses[code].get("description"):
                responses[code]["description"] = _STATUS_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
        return responses

    def _problem_statuses(self) -> set[int]:
        view = self.view
        action = getattr(view, "action", None) or self.method.lower()
        statuses: set[int] = set()
        if required_role(view, self.method) is not None:
            statuses |= {401, 403}
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            statuses |= {400, 415}
        if action == "list":
            statuses |= {400, 404}
        if "{" in self.path:
            statuses.add(404)
        statuses |= set(getattr(view, "problem_statuses", {}).get(action, ()))
        return statuses


_STATUS_DESCRIPTIONS = {
    400: "Invalid request: the problem's errors name each field (and param layer) at fault.",
    401: "Not authenticated: send a session cookie or 'Authorization: Token <key>'.",
    403: "Authenticated, but the role (viewer, operator, admin) does not allow this.",
    404: "No such object (or, for lists, an invalid cursor).",
    409: "The request conflicts with the cluster or the stored state (the cluster refused, or the job no longer "
    "renders).",
    406: "The Accept header allows no JSON.",
    412: "If-Match names a version that is no longer current; nothing was changed.",
    415: "The body is not application/json.",
    503: "The cluster cannot be reached right now; retry later.",
}
