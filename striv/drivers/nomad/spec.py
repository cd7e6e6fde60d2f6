"""Checks of a rendered spec that Nomad would refuse, or read otherwise than the template means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from striv.drivers.base import SpecError
from striv.drivers.nomad.cron import CronError, periodic_dead_specs, periodic_validate

# The top-level job fields striv reads or sets; Go's encoding/json matches keys case-insensitively.
KNOWN_FIELDS = ("ID", "Name", "Type", "Namespace", "Region", "Meta", "Periodic", "ParameterizedJob", "TaskGroups")


def canonical_keys(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with the known fields under Nomad's spelling (``periodic`` is ``Periodic``, as Nomad reads it).

    Raises SpecError when two keys name one field (Nomad would silently keep only one of them).
    """
    job = dict(spec)
    for name in KNOWN_FIELDS:
        variants = [key for key in job if isinstance(key, str) and key.lower() == name.lower()]
        if len(variants) > 1:
            raise SpecError(f"{' and '.join(sorted(variants))} are one field to Nomad; keep {name}", field=name)
        if variants and variants[0] != name:
            job[name] = job.pop(variants[0])
    return job


def spec_validate(spec: Mapping[str, Any]) -> None:
    """Check what Nomad would refuse, or read otherwise than the template means, and striv can see without
    asking: the type, the periodic block, keys Nomad reads case-insensitively, fields that belong to the
    execution, and schedules Nomad would never launch."""
    spec = canonical_keys(spec)
    for name in ("Namespace", "Region"):
        if spec.get(name) not in (None, ""):
            raise SpecError(
                f"{name} belongs in the execution's driver_config ({name.lower()}), where run discovery looks; "
                "remove it from the template",
                field=name,
            )
    job_type = spec.get("Type", "batch")
    if job_type not in ("batch", "sysbatch", "service", "system"):
        raise SpecError(f"Type: invalid job type {job_type!r}", field="Type")
    # striv merges its own keys into Meta: anything but an object of strings would fail there, and Nomad refuses
    # non-string values anyway.
    job_meta = spec.get("Meta")
    if job_meta is not None:
        if not isinstance(job_meta, Mapping):
            raise SpecError("Meta must be an object of strings", field="Meta")
        for key, value in job_meta.items():
            if not isinstance(value, str):
                raise SpecError(f"Meta.{key} must be a string, got {type(value).__name__}", field=f"Meta.{key}")
    periodic = spec.get("Periodic")
    if periodic is not None:
        if not isinstance(periodic, Mapping):
            raise SpecError("Periodic must be an object", field="Periodic")
        if job_type not in ("batch", "sysbatch"):
            raise SpecError('Periodic can only be used with "batch" or "sysbatch" jobs', field="Type")
        if spec.get("ParameterizedJob") is not None:
            raise SpecError(
                "Periodic and ParameterizedJob together: Nomad's periodic dispatcher never launches such a job",
                field="ParameterizedJob",
            )
        try:
            periodic_validate(periodic)
            dead = periodic_dead_specs(periodic)
        except CronError as exc:
            raise SpecError(str(exc), field=exc.field) from None
        if dead:
            raise SpecError(
                f"{dead[0]}: the spec has no future launch, so Nomad would never launch the job again",
                field=dead[0],
            )
