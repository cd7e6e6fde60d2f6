"""Dumping the state: the database's executions and dimensions as a state document (what dump-state prints)."""

from __future__ import annotations

from typing import Any

from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution


def state_dump() -> dict[str, Any]:
    """Return the current executions and dimensions in the state format; loading it back changes nothing."""
    executions = {}
    for execution in Execution.objects.order_by("key"):
        item = {
            "name": execution.name,
            "driver": execution.driver,
            "driver_config": execution.driver_config,
            "default_params": execution.default_params,
            "payload_template": execution.payload_template,
        }
        if execution.logstore:
            item["logstore"] = execution.logstore
        executions[execution.key] = item
    dimensions: dict[str, Any] = {}
    for dimension in Dimension.objects.order_by("key"):
        item = {"priority": dimension.priority, "values": {}}
        if dimension.label:
            item["label"] = dimension.label
        if dimension.description:
            item["description"] = dimension.description
        dimensions[dimension.key] = item
    for value in DimensionValue.objects.select_related("dimension").order_by("dimension__key", "key"):
        entry: dict[str, Any] = {"params": value.params}
        if value.label:
            entry["label"] = value.label
        dimensions[value.dimension.key]["values"][value.key] = entry
    return {"executions": executions, "dimensions": dimensions}
