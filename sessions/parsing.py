"""Turn what clients send (PWD's form fields and JSON bodies) into validated values, or BadInput."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from engine import tls
from sessions.lifecycle import BadInput, InstanceRequest, ReservedEnv, StackTooLarge
from sessions.setup import SetupNode

MAX_DURATION_SECONDS = 366 * 24 * 3600
# ASCII digits only: str.isdigit() and \d also take "²" or "٣", which float() then refuses or reads.
_SECONDS = re.compile(r"[0-9]+", re.ASCII)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", re.ASCII)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Variables the platform reads inside an instance: the entrypoint's DOCKERD_ARGS (TLS, the mirror), and the
# DOCKER_* the `docker` commands it runs there (readiness) would obey; PLAYGROUND_* is kept for it.
_RESERVED_ENV_NAMES = {"DOCKERD_ARGS"}
_RESERVED_ENV_PREFIXES = ("PLAYGROUND_", "DOCKER_")
_TLS_FIELDS = {"cacert": "tls_ca_cert", "servercert": "tls_server_cert", "serverkey": "tls_server_key"}


def parse_duration(text: str) -> timedelta | None:
    """Parse a Go duration ("90m", "1h30m", "20s") or plain seconds; empty means the default."""
    text = text.strip()
    if not text:
        return None
    if _SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise BadInput(f"session-duration {text!r} is not a duration like 90m, 1h30m or 45s")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise BadInput("session-duration must be positive and at most a year")
    return timedelta(seconds=seconds)


def stack_fields(url: str, name: str) -> dict[str, str]:
    """Validate PWD's stack and stack_name form fields."""
    url, name = url.strip(), name.strip()
    if "\x00" in url + name:
        raise BadInput("stack and stack_name may not contain a NUL character")
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError as e:
            raise BadInput("stack must be an http(s) URL of a compose file") from e
        if len(url) > 500:
            raise BadInput("stack must be at most 500 characters")
    if len(name) > 100:
        raise BadInput("stack_name must be at most 100 characters")
    return {"stack": url, "stack_name": name}


def stack_file(data: bytes, limit: int) -> str:
    """Validate an uploaded compose file: UTF-8 text, not empty, at most limit bytes."""
    if len(data) > limit:
        raise StackTooLarge(f"the compose file is {len(data)} bytes; the limit is {limit}")
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise BadInput("the compose file must be UTF-8 text") from e
    if not text.strip():
        raise BadInput("the compose file is empty")
    return text


def json_body(raw: bytes) -> dict[str, Any]:
    """Decode a JSON object whose keys are compared case-insensitively (as PWD's clients expect)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"the body is not valid JSON: {e}") from e
    except RecursionError as e:
        raise BadInput("the body nests JSON too deeply") from e
    if _holds_nul(data):
        # PostgreSQL's text cannot hold one: a name or image with it was a 500 there, and no command takes one.
        raise BadInput("the body may not contain a NUL character (\\u0000)")
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return {str(k).lower(): v for k, v in data.items()}


def _holds_nul(data: Any) -> bool:
    """Tell whether any string (or key) in decoded JSON holds NUL; iterative, for JSON nested a thousand deep."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            return True
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _string(body: dict[str, Any], key: str, label: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise BadInput(f"{label} must be a string")
    return value.strip()


def _envs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput('Envs must be a list of "NAME=value" strings')
    env = {}
    for item in value:
        name, sep, val = item.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise BadInput(f'Envs entry {item!r} is not of the form "NAME=value"')
        if name.upper() in _RESERVED_ENV_NAMES or name.upper().startswith(_RESERVED_ENV_PREFIXES):
            raise ReservedEnv(f"Envs may not set {name}: DOCKERD_ARGS, DOCKER_* and PLAYGROUND_* are the platform's")
        env[name] = val
    return env


def _pem(body: dict[str, Any], key: str) -> str:
    encoded = _string(body, key, key)
    if not encoded:
        return ""
    try:
        text = base64.b64decode(encoded, validate=True).decode("ascii")
    except ValueError as e:  # binascii.Error, UnicodeDecodeError, and any non-ASCII character in the string
        raise BadInput(f"{key} must be base64 of a PEM document") from e
    if "-----BEGIN " not in text:
        raise BadInput(f"{key} must be base64 of a PEM document")
    return text


def instance_request(raw: bytes) -> InstanceRequest:
    """Parse the body of POST /sessions/{id}/instances."""
    body = json_body(raw)
    hostname = _string(body, "hostname", "Hostname").lower()
    if hostname and not _HOSTNAME.match(hostname):
        raise BadInput(f"Hostname {hostname!r} is not a valid host name (letters, digits and dashes)")
    alias = _string(body, "alias", "Alias").lower()
    if alias and not _HOSTNAME.match(alias):
        raise BadInput(f"Alias {alias!r} is not a valid host name label")
    pem = {field: _pem(body, key) for key, field in _TLS_FIELDS.items()}
    if any(pem.values()) and not all(pem.values()):
        raise BadInput("ServerCert, ServerKey and CACert go together")
    if all(pem.values()):
        try:
            tls.check(tls.EngineTls(pem["tls_ca_cert"], pem["tls_server_cert"], pem["tls_server_key"]))
        except ValueError as e:
            raise BadInput(str(e)) from e
    return InstanceRequest(
        image=_string(body, "imagename", "ImageName"),
        hostname=hostname,
        env=_envs(body.get("envs")),
        alias=alias,
        **pem,
    )


# A command is argv, as PWD's clients send it; these bound what one request can make the platform run.
MAX_COMMAND_ARGS = 256
MAX_COMMANDS_PER_INSTANCE = 20


def _command(value: Any, label: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(arg, str) for arg in value):
        raise BadInput(f'{label} must be a non-empty list of strings, e.g. ["sh", "-c", "docker ps"]')
    if len(value) > MAX_COMMAND_ARGS:
        raise BadInput(f"{label} has more than {MAX_COMMAND_ARGS} arguments")
    if any("\0" in arg for arg in value):
        raise BadInput(f"{label} contains a NUL character")
    if not value[0]:
        raise BadInput(f"{label} names no program")
    return list(value)


def exec_command(raw: bytes) -> list[str]:
    """Parse the body of POST /sessions/{id}/instances/{name}/exec: {"command": [...]}."""
    return _command(json_body(raw).get("command"), "command")


def _flag(node: dict[str, Any], key: str, label: str) -> bool:
    value = node.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadInput(f"{label}.{key} must be true or false")
    return value


def _setup_node(value: Any, n: int) -> SetupNode:
    label = f"instances[{n}]"
    if not isinstance(value, dict):
        raise BadInput(f"{label} must be an object")
    node = {str(k).lower(): v for k, v in value.items()}
    hostname = _string(node, "hostname", f"{label}.hostname").lower()
    if hostname and not _HOSTNAME.match(hostname):
        raise BadInput(f"{label}.hostname {hostname!r} is not a valid host name (letters, digits and dashes)")
    kind = _string(node, "type", f"{label}.type").lower()
    if kind not in ("", "linux"):
        raise BadInput(f"{label}.type {kind!r}: only linux instances are offered here")
    manager = _flag(node, "is_swarm_manager", label)
    worker = _flag(node, "is_swarm_worker", label)
    if manager and worker:
        raise BadInput(f"{label} cannot be both a swarm manager and a swarm worker")
    run = node.get("run") or []
    if not isinstance(run, list):
        raise BadInput(f"{label}.run must be a list of commands, each a list of strings")
    if len(run) > MAX_COMMANDS_PER_INSTANCE:
        raise BadInput(f"{label}.run has more than {MAX_COMMANDS_PER_INSTANCE} commands")
    return SetupNode(
        hostname=hostname,
        image=_string(node, "image", f"{label}.image") or _string(node, "imagename", f"{label}.image"),
        swarm="manager" if manager else "worker" if worker else "",
        run=[_command(command, f"{label}.run[{i}]") for i, command in enumerate(run)],
    )


def setup_request(raw: bytes) -> list[SetupNode]:
    """Parse the body of POST /sessions/{id}/setup (PWD's): {"instances": [{"hostname", "run", ...}, ...]}."""
    instances = json_body(raw).get("instances")
    if not isinstance(instances, list) or not instances:
        raise BadInput('instances must be a non-empty list of {"hostname", "image", "run": [[...]], ...}')
    nodes = [_setup_node(value, n) for n, value in enumerate(instances)]
    hostnames = [node.hostname for node in nodes if node.hostname]
    if len(set(hostnames)) != len(hostnames):
        raise BadInput("two instances ask for the same hostname")
    if any(node.swarm == "worker" for node in nodes) and not any(node.swarm == "manager" for node in nodes):
        raise BadInput("swarm workers need a swarm manager to join: mark one instance is_swarm_manager")
    return nodes
