"""Rhythm 0.18's REST API (``/api/v1``): routing as gorilla/mux with StrictSlash, decoding, gojsonschema
validation, the GitLab and LDAP authorizers, and the endpoints, over the state of ``RhythmEmulator``."""

from __future__ import annotations

import base64
import posixpath
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.emulators.rhythm.gojson import DecodeError, cron_ok, first_value, fold, go_dumps, want
from tests.emulators.rhythm.server import Reply, Request

if TYPE_CHECKING:
    from tests.emulators.rhythm.emulator import RhythmEmulator

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9-_]+$")
NO_ACCESS, READ_ONLY, READ_WRITE = 0, 1, 2
LDAP_LEVELS = {"readonly": READ_ONLY, "readwrite": READ_WRITE}

JOB_KEYS = ["group", "project", "id", "schedule", "env", "secrets", "container", "cpus", "mem", "disk", "cmd",
            "user", "shell", "arguments", "labels", "maxretries"]  # fmt: skip
TYPES = {"cpus": "number", "mem": "number", "disk": "number", "maxretries": "integer", "cmd": "string",
         "user": "string", "shell": "bool", "arguments": "list", "env": "map", "secrets": "map", "labels": "map",
         "group": "string", "project": "string", "id": "string"}  # fmt: skip

ROUTES: list[tuple[re.Pattern[str], tuple[str, ...], str]] = [
    (re.compile(r"^/api/v1/health$"), ("*",), "health"),
    (re.compile(r"^/api/v1/metrics$"), ("*",), "metrics"),
    (re.compile(r"^/api/v1/jobs$"), ("GET", "POST"), "jobs"),
    (re.compile(r"^/api/v1/jobs/(?P<group>[^/]+)$"), ("GET",), "group_jobs"),
    (re.compile(r"^/api/v1/jobs/(?P<group>[^/]+)/(?P<project>[^/]+)$"), ("GET",), "project_jobs"),
    (re.compile(r"^/api/v1/jobs/(?P<group>[^/]+)/(?P<project>[^/]+)/(?P<id>[^/]+)$"), ("GET", "PUT", "DELETE"), "job"),
    (re.compile(r"^/api/v1/jobs/(?P<group>[^/]+)/(?P<project>[^/]+)/(?P<id>[^/]+)/run$"), ("POST",), "run"),
    (re.compile(r"^/api/v1/jobs/(?P<group>[^/]+)/(?P<project>[^/]+)/(?P<id>[^/]+)/tasks$"), ("GET",), "tasks"),
]


class HandlerError(Exception):
    """A handler error: ``{"Errors": [...]}`` sent with an explicit status, so labelled text/plain."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__(messages[0] if messages else "")
        self.status = status
        self.messages = list(messages)


def errors_reply(status: int, messages: list[str]) -> Reply:
    return Reply(status, go_dumps({"Errors": messages}), JSON if status == 200 else TEXT)


def json_reply(value: Any) -> Reply:
    return Reply(200, go_dumps(value), JSON)


class RhythmApi:
    def __init__(self, emulator: RhythmEmulator) -> None:
        self.emu = emulator

    def answer(self, req: Request) -> Reply:
        self.emu.requests_log.append((req.method, req.path))
        path = unquote(req.path)
        cleaned = posixpath.normpath(path) if path else "/"
        if path.endswith("/") and cleaned != "/":
            cleaned += "/"
        if cleaned != path or "//" in path:
            return Reply(301, b"", None, {"Location": cleaned.replace("//", "/")})
        slash = path.endswith("/") and path != "/"
        for pattern, methods, name in ROUTES:
            match = pattern.match(path[:-1] if slash else path)
            if not match:
                continue
            if "*" not in methods and req.method not in methods:
                return Reply(405)
            if slash:
                return Reply(301, b"", None, {"Location": path[:-1]})
            try:
                return getattr(self, name)(req, **match.groupdict())
            except HandlerError as exc:
                return errors_reply(exc.status, exc.messages)
        return Reply(404, b"404 page not found\n", TEXT)

    # --- auth ------------------------------------------------------------------------------------------------------

    def level(self, req: Request, group: str, project: str) -> int:
        """The access level of the caller on (group, project); HandlerError 500 when the authorizer fails."""
        mode = self.emu.auth
        if mode == "none":
            return READ_WRITE
        if mode == "gitlab":
            if self.emu.gitlab_down:
                raise HandlerError(500, "Get https://gitlab/api/v4/projects/x: dial tcp: connection refused")
            grants = self.emu.gitlab_tokens.get(req.headers.get("X-Token") or "")
            access = (grants or {}).get(f"{group}/{project}")
            if access is None:
                return NO_ACCESS
            return READ_WRITE if access >= 30 else READ_ONLY if access == 20 else NO_ACCESS
        header = req.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            raise HandlerError(500, "Cannot parse Basic auth credentials")
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            raise HandlerError(500, "Cannot parse Basic auth credentials") from None
        entry = self.emu.ldap_users.get(user)
        if entry is None or entry["password"] != password:
            raise HandlerError(500, 'LDAP Result Code 49 "Invalid Credentials": ')
        acl = entry.get("acl", {})
        for key in (f"{group}/{project}", group, "*"):
            if key in acl:
                return LDAP_LEVELS.get(acl[key], NO_ACCESS)
        return NO_ACCESS

    def need(self, req: Request, group: str, project: str, level: int) -> None:
        if self.level(req, group, project) < level:
            raise HandlerError(403, "Forbidden")

    # --- endpoints -------------------------------------------------------------------------------------------------

    def health(self, req: Request) -> Reply:
        now = self.emu.now()
        return json_reply(
            {
                "ServerTime": now.strftime("%a %b ") + f"{now.day:2d}" + now.strftime(" %H:%M:%S %Z %Y"),
                "Version": "0.18",
                "Leader": self.emu.leader,
            }  # fmt: skip
        )

    def metrics(self, req: Request) -> Reply:
        return Reply(200, f'leader {int(self.emu.leader)}\nrhythm_info{{version="0.18"}} 1\n'.encode(), TEXT)

    def _listed(self, req: Request, jobs: list[dict[str, Any]]) -> Reply:
        levels: dict[tuple[str, str], int] = {}
        shown = []
        for job in jobs:
            key = (job["Group"], job["Project"])
            if key not in levels:
                levels[key] = self.level(req, *key)
            if levels[key] >= READ_ONLY:
                shown.append(self.emu.job_view(job))
        return json_reply(shown)

    def jobs(self, req: Request) -> Reply:
        if req.method == "POST":
            return self.create(req)
        return self._listed(req, list(self.emu.jobs.values()))

    def group_jobs(self, req: Request, group: str) -> Reply:
        return self._listed(req, [j for j in self.emu.jobs.values() if j["Group"] == group])

    def project_jobs(self, req: Request, group: str, project: str) -> Reply:
        self.need(req, group, project, READ_ONLY)
        jobs = [j for j in self.emu.jobs.values() if (j["Group"], j["Project"]) == (group, project)]
        return json_reply([self.emu.job_view(j) for j in jobs])

    def job(self, req: Request, group: str, project: str, id: str) -> Reply:  # noqa: A002 - Rhythm's name
        fqid = f"{group}:{project}:{id}"
        if req.method == "GET":
            self.need(req, group, project, READ_ONLY)
            job = self.emu.jobs.get(fqid)
            return Reply(404) if job is None else json_reply(self.emu.job_view(job))
        if req.method == "DELETE":
            self.need(req, group, project, READ_WRITE)
            with self.emu.lock:
                self.emu.jobs.pop(fqid, None)
                self.emu.tasks.pop(fqid, None)
            return Reply(204)
        return self.update(req, group, project, fqid)

    def run(self, req: Request, group: str, project: str, id: str) -> Reply:  # noqa: A002
        self.need(req, group, project, READ_WRITE)
        self.emu.queued.add(f"{group}:{project}:{id}")
        return Reply(204)

    def tasks(self, req: Request, group: str, project: str, id: str) -> Reply:  # noqa: A002
        self.need(req, group, project, READ_ONLY)
        records = sorted(self.emu.tasks.get(f"{group}:{project}:{id}", []), key=lambda t: t["End"])
        return json_reply(records)

    # --- writes ----------------------------------------------------------------------------------------------------

    def decode(self, req: Request, keys: list[str]) -> dict[str, Any]:
        try:
            body = fold(first_value(req.body), keys, "job")
            for key, kind in TYPES.items():
                if key in body:
                    want(body[key], kind, key)
            if "schedule" in body:
                body["schedule"] = fold(body["schedule"], ["cron"], "schedule")
                if "cron" in body["schedule"]:
                    want(body["schedule"]["cron"], "string", "schedule.cron")
            if "container" in body:
                container = fold(body["container"], ["docker", "mesos"], "container")
                for kind, names in (("docker", ["image", "forcepullimage"]), ("mesos", ["image"])):
                    if kind in container:
                        container[kind] = fold(container[kind], names, f"container.{kind}")
                        if "image" in container[kind]:
                            want(container[kind]["image"], "string", f"container.{kind}.image")
                        if "forcepullimage" in container[kind]:
                            want(container[kind]["forcepullimage"], "bool", "container.docker.forcepullimage")
                body["container"] = container
        except DecodeError as exc:
            raise HandlerError(400, f"JSON decoding failed: {exc}") from None
        return body

    @staticmethod
    def _number_errors(body: dict[str, Any], create: bool) -> list[str]:
        errors = []
        for key, name in (("cpus", "CPUs"), ("mem", "Mem")):
            if (create or key in body) and body.get(key, 0) <= 0:
                errors.append(f"{name}: Must be greater than 0")
        for key, name in (("disk", "Disk"), ("maxretries", "MaxRetries")):
            if body.get(key, 0) < 0:
                errors.append(f"{name}: Must be greater than or equal to 0")
        return errors

    def create(self, req: Request) -> Reply:
        body = self.decode(req, JOB_KEYS)
        errors = []
        for key, name in (("group", "Group"), ("project", "Project"), ("id", "ID")):
            if not ID_PATTERN.match(body.get(key, "")):
                errors.append(f"{name}: Does not match pattern '^[a-zA-Z0-9-_]+$'")
        if not cron_ok(body.get("schedule", {}).get("cron", "")):
            errors.append("Schedule.Cron: Does not match format 'cron'")
        errors += self._number_errors(body, create=True)
        container = body.get("container", {})
        docker = container.get("docker", {}).get("image", "")
        mesos = container.get("mesos", {}).get("image", "")
        if bool(docker) == bool(mesos):
            errors.append("Container: Must validate one and only one schema (oneOf)")
            if not docker and not mesos:
                errors.append("Container.Docker.Image: String length must be greater than or equal to 1")
        if errors:
            return errors_reply(200, errors)
        group, project, id_ = body["group"], body["project"], body["id"]
        self.need(req, group, project, READ_WRITE)
        fqid = f"{group}:{project}:{id_}"
        with self.emu.lock:
            if fqid in self.emu.jobs:
                raise HandlerError(400, "Job already exists")
            if docker:
                box = {"Type": "Docker", "Docker": {"Image": docker,
                       "ForcePullImage": container["docker"].get("forcepullimage", False)}}  # fmt: skip
            else:
                box = {"Type": "Mesos", "Mesos": {"Image": mesos}}
            self.emu.jobs[fqid] = {
                "Group": group, "Project": project, "ID": id_,
                "Schedule": {"Type": "Cron", "Cron": body["schedule"]["cron"]},
                "Env": body.get("env", {}), "Secrets": body.get("secrets", {}), "Container": box,
                "CPUs": body["cpus"], "Mem": body["mem"], "Disk": body.get("disk", 0), "Cmd": body.get("cmd", ""),
                "User": body.get("user", ""), "Shell": body.get("shell", True),
                "Arguments": body.get("arguments", []), "Labels": body.get("labels", {}),
                "MaxRetries": body.get("maxretries", 0),
                "State": "Idle", "LastStart": None, "CurrentTaskID": "", "CurrentAgentID": "", "Retries": 0,
            }  # fmt: skip
        return Reply(204)

    def update(self, req: Request, group: str, project: str, fqid: str) -> Reply:
        body = self.decode(req, JOB_KEYS[3:])
        errors = self._number_errors(body, create=False)
        if "schedule" in body:
            cron = body["schedule"].get("cron")
            if cron is None:
                errors.append("Schedule.Cron: Invalid type. Expected: string, given: null")
            elif not cron_ok(cron):
                errors.append("Schedule.Cron: Does not match format 'cron'")
        container = body.get("container")
        if container is not None and "docker" not in container:
            mesos = container.get("mesos")
            if mesos is None:
                errors += ["Container: Must validate at least one schema (anyOf)",
                           "Container.Docker: Invalid type. Expected: object, given: null"]  # fmt: skip
            elif mesos.get("image") is None:
                errors += ["Container: Must validate at least one schema (anyOf)",
                           "Container.Mesos.Image: Invalid type. Expected: string, given: null"]  # fmt: skip
            elif mesos["image"] == "":
                errors += ["Container: Must validate at least one schema (anyOf)",
                           "Container.Mesos.Image: String length must be greater than or equal to 1"]  # fmt: skip
        elif container is not None and container["docker"].get("image") == "":
            errors += ["Container: Must validate at least one schema (anyOf)",
                       "Container.Docker.Image: String length must be greater than or equal to 1"]  # fmt: skip
        if errors:
            return errors_reply(200, errors)
        self.need(req, group, project, READ_WRITE)
        with self.emu.lock:
            job = self.emu.jobs.get(fqid)
            if job is None:
                raise HandlerError(404, "Job not found")
            if container is not None:
                if "docker" in container:
                    stored = job["Container"].get("Docker", {})
                    image = container["docker"].get("image", stored.get("Image", ""))
                    if not image:
                        raise HandlerError(400, "container.docker.image is required")
                    force = container["docker"].get("forcepullimage", stored.get("ForcePullImage", False))
                    job["Container"] = {"Type": "Docker", "Docker": {"Image": image, "ForcePullImage": force}}
                else:
                    job["Container"] = {"Type": "Mesos", "Mesos": {"Image": container["mesos"]["image"]}}
            if "schedule" in body:
                job["Schedule"] = {"Type": "Cron", "Cron": body["schedule"]["cron"]}
            names = {"env": "Env", "secrets": "Secrets", "cpus": "CPUs", "mem": "Mem", "disk": "Disk", "cmd": "Cmd",
                     "user": "User", "shell": "Shell", "arguments": "Arguments", "labels": "Labels",
                     "maxretries": "MaxRetries"}  # fmt: skip
            for key, name in names.items():
                if key in body:
                    job[name] = body[key]
        return Reply(204)
