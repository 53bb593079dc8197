"""The OpenAPI 3.1 description of PWD's JSON API as served here."""

from typing import Any


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ERRORS = {
    "400": _json(_ref("Error"), "Malformed input"),
    "404": _json(_ref("Error"), "Unknown session or instance"),
    "410": _json(_ref("Error"), "The session has ended"),
}
PATH_HELP = "Absolute, or relative to the folder the instance's terminal shell stands in"
URL_HELP = "An http(s) URL on FETCH_ALLOWED_HOSTS to fetch; else the raw body's file name"
SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
INSTANCE_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Playground API",
        "version": "1.0",
        "description": "Play with Docker's public API. The session id is the credential: keep it secret.",
    },
    "paths": {
        "/": {
            "post": {
                "summary": "Start a session",
                "parameters": [
                    {"name": "X-Requested-With", "in": "header", "schema": {"const": "XMLHttpRequest"}},
                ],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "session-duration": {"type": "string", "examples": ["90m", "1h30m"]},
                                    "image_name": {"type": "string"},
                                    "stack": {"type": "string"},
                                    "stack_name": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": _json(_ref("NewSession"), "With X-Requested-With: the new session"),
                    "302": {"description": "Without it: redirect to /p/{session_id} (or to log in, see 403)"},
                    "400": ERRORS["400"],
                    "403": _json(_ref("Error"), "login_required: LOGIN_REQUIRED_TO_START and nobody is logged in"),
                    "429": _json(_ref("Error"), "too_many_sessions: SESSION_STARTS_PER_MINUTE from one address"),
                    "503": _json(_ref("Error"), "out_of_capacity"),
                },
            }
        },
        "/sessions/{session_id}": {
            "parameters": [SESSION_ID],
            "get": {
                "summary": "A session and its instances",
                "responses": {"200": _json(_ref("Session"), "The session"), "404": ERRORS["404"]},
            },
            "delete": {
                "summary": "End a session and remove everything it owns",
                "responses": {"200": _json(_ref("Session"), "The ended session"), "404": ERRORS["404"]},
            },
        },
        "/sessions/{session_id}/close": {
            "parameters": [SESSION_ID],
            "post": {
                "summary": "End a session (same as DELETE)",
                "responses": {"200": _json(_ref("Session"), "The ended session"), "404": ERRORS["404"]},
            },
        },
        "/sessions/{session_id}/ssh-keys": {
            "parameters": [SESSION_ID],
            "get": {
                "summary": "Public keys that open the legacy ssh user name <a-b-c-d>-<sid[:8]>",
                "responses": {"200": _json({"type": "object"}, "{'keys': [...]}"), **ERRORS},
            },
            "post": {
                "summary": "Register a public key (the contents of a .pub file)",
                "requestBody": {
                    "content": {"application/json": {"schema": {"type": "object", "properties": {"key": {}}}}}
                },
                "responses": {
                    "201": _json({"type": "object"}, "The registered key"),
                    **ERRORS,
                    "409": _json(_ref("Error"), "max_keys"),
                },
            },
        },
        "/sessions/{session_id}/ssh-keys/{key_id}": {
            "parameters": [
                SESSION_ID,
                {"name": "key_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            ],
            "delete": {
                "summary": "Forget a registered key",
                "responses": {"200": {"description": "Deleted"}, **ERRORS},
            },
        },
        "/sessions/{session_id}/extend": {
            "parameters": [SESSION_ID],
            "post": {
                "summary": "Push the deadline a full session length from now, up to the playground's maximum",
                "responses": {
                    "200": _json(_ref("Session"), "The session with its new expires_at"),
                    "403": _json(_ref("Error"), "extend_not_allowed: this playground does not extend sessions"),
                    "404": ERRORS["404"],
                    "409": _json(_ref("Error"), "max_session_duration: already as long as allowed"),
                    "410": ERRORS["410"],
                },
            },
        },
        "/sessions/{session_id}/instances": {
            "parameters": [SESSION_ID],
            "post": {
                "summary": "Add an instance; returns once its Docker engine answers",
                "requestBody": {"content": {"application/json": {"schema": _ref("NewInstance")}}},
                "responses": {
                    "200": _json(_ref("Instance"), "The running instance"),
                    **ERRORS,
                    "409": _json(_ref("Error"), "max_instances or hostname_taken"),
                    "503": _json(_ref("Error"), "out_of_capacity or engine_error"),
                },
            },
        },
        "/sessions/{session_id}/stack": {
            "parameters": [SESSION_ID],
            "post": {
                "summary": "Deploy a compose file with `docker compose up -d` in the session's first instance",
                "description": "Its output reaches the session's WebSocket as `session builder out`, then "
                "`session ready [true]`, or `session ready [false, reason]`. node1 is started if none runs.",
                "parameters": [
                    {"name": "stack_name", "in": "query", "schema": {"type": "string"}},
                    {"name": "url", "in": "query", "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "url": {"type": "string"},
                                    "stack_name": {"type": "string"},
                                },
                            }
                        },
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "compose": {"type": "string"},
                                    "url": {"type": "string"},
                                    "stack_name": {"type": "string"},
                                },
                            }
                        },
                        "application/yaml": {"schema": {"type": "string"}},
                    }
                },
                "responses": {
                    "202": _json({"type": "object"}, "Queued: {'stack_name', 'stack_state'}"),
                    **ERRORS,
                    "403": _json(_ref("Error"), "fetch_not_allowed: the url's host is not in FETCH_ALLOWED_HOSTS"),
                    "409": _json(_ref("Error"), "stack_busy: a deploy is queued or running"),
                    "413": _json(_ref("Error"), "stack_too_large: past STACK_MAX_BYTES"),
                },
            },
        },
        "/sessions/{session_id}/setup": {
            "parameters": [SESSION_ID],
            "post": {
                "summary": "Set up an empty session from a template: instances at once, a swarm, commands in order",
                "description": (
                    "Instances start in parallel; the first is_swarm_manager inits a swarm that the other managers "
                    "and the workers join; then every instance's run commands run, instance after instance, each "
                    "in order, stopping at the first that fails (the instances stay). Output is reported capped."
                ),
                "requestBody": {"content": {"application/json": {"schema": _ref("Setup")}}},
                "responses": {
                    "200": _json(_ref("SetupReport"), "Every instance, its swarm steps and its commands"),
                    **ERRORS,
                    "409": _json(_ref("Error"), "session_not_empty, max_instances or hostname_taken"),
                    "422": _json(_ref("SetupReport"), "setup_failed: which instance and command; what ran so far"),
                    "503": _json(_ref("Error"), "out_of_capacity or engine_error: nothing is left behind"),
                },
            },
        },
        "/sessions/{session_id}/instances/{name}": {
            "parameters": [SESSION_ID, INSTANCE_NAME],
            "delete": {
                "summary": "Remove an instance, its container and storage",
                "responses": {"200": _json(_ref("Instance"), "The removed instance"), **ERRORS},
            },
        },
        "/sessions/{session_id}/instances/{name}/docker": {
            "parameters": [SESSION_ID, INSTANCE_NAME],
            "get": {
                "summary": "The lines that point a docker CLI on a laptop at the instance's engine (never any key)",
                "responses": {
                    "200": _json(_ref("DockerConnection"), "How to connect"),
                    "404": _json(_ref("Error"), "Unknown session or instance, or one docker-machine created"),
                    "410": ERRORS["410"],
                },
            },
        },
        "/sessions/{session_id}/instances/{name}/docker.zip": {
            "parameters": [SESSION_ID, INSTANCE_NAME],
            "get": {
                "summary": "The CA, client certificate and client key that open the instance's engine",
                "responses": {
                    "200": {
                        "description": "ca.pem, cert.pem, key.pem and README.txt",
                        "content": {"application/zip": {}},
                    },
                    "404": _json(_ref("Error"), "Unknown session or instance, or one docker-machine created"),
                    "410": ERRORS["410"],
                },
            },
        },
        "/sessions/{session_id}/instances/{name}/uploads": {
            "parameters": [
                SESSION_ID,
                INSTANCE_NAME,
                {"name": "path", "in": "query", "schema": {"type": "string"}, "description": PATH_HELP},
                {"name": "url", "in": "query", "schema": {"type": "string"}, "description": URL_HELP},
            ],
            "post": {
                "summary": "Stream files into the instance (multipart, a raw body, or an allowed URL)",
                "requestBody": {
                    "content": {
                        "multipart/form-data": {"schema": {"type": "object"}},
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    }
                },
                "responses": {
                    "200": _json(_ref("Uploaded"), "The files written"),
                    **ERRORS,
                    "403": _json(_ref("Error"), "fetch_not_allowed: url= is not on FETCH_ALLOWED_HOSTS"),
                    "408": _json(_ref("Error"), "upload_timeout: past UPLOAD_TIMEOUT"),
                    "413": _json(_ref("Error"), "body_too_large past UPLOAD_MAX_BYTES, or fetch_too_large"),
                    "422": _json(_ref("Error"), "file_error: the instance could not write it; fetch_failed"),
                    "429": _json(_ref("Error"), "too_many_uploads: UPLOADS_AT_ONCE per web process"),
                },
            },
        },
        "/sessions/{session_id}/instances/{name}/fstree": {
            "parameters": [
                SESSION_ID,
                INSTANCE_NAME,
                {"name": "path", "in": "query", "schema": {"type": "string", "default": "/root"}},
            ],
            "get": {
                "summary": "A folder of the instance as `tree -J` lists it, FSTREE_DEPTH deep, FSTREE_ENTRIES at most",
                "responses": {
                    "200": _json({"type": "array", "items": {"type": "object"}}, "The folder, then a report"),
                    **ERRORS,
                    "422": _json(_ref("Error"), "file_error: the instance did not list it"),
                },
            },
        },
        "/sessions/{session_id}/instances/{name}/recording": {
            "parameters": [SESSION_ID, INSTANCE_NAME],
            "get": {
                "summary": "The instance's terminal recording as asciicast v2, a download (until the session ends)",
                "responses": {
                    "200": {"description": "The recording", "content": {"application/x-asciicast": {}}},
                    "404": _json(_ref("Error"), "Unknown session or instance, or no recording of it"),
                },
            },
        },
        "/sessions/{session_id}/instances/{name}/file": {
            "parameters": [
                SESSION_ID,
                INSTANCE_NAME,
                {
                    "name": "path",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": PATH_HELP,
                },
            ],
            "get": {
                "summary": "A text file of the instance, base64-encoded (as PWD served it)",
                "responses": {
                    "200": {"description": "The file in base64", "content": {"text/plain": {}}},
                    **ERRORS,
                    "413": _json(_ref("Error"), "file_too_large: past EDITOR_MAX_BYTES"),
                    "415": _json(_ref("Error"), "binary_file: not UTF-8 text"),
                    "422": _json(_ref("Error"), "file_error: not a regular file, or unreadable"),
                },
            },
            "put": {
                "summary": "Replace the file's contents with the body (created with its folders if new)",
                "requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"path": {"type": "string"}, "bytes": {"type": "integer"}}},
                        "The file written",
                    ),
                    **ERRORS,
                    "413": _json(_ref("Error"), "file_too_large: past EDITOR_MAX_BYTES"),
                    "422": _json(_ref("Error"), "file_error: the instance could not write it"),
                },
            },
        },
        "/sessions/{session_id}/instances/{name}/exec": {
            "parameters": [SESSION_ID, INSTANCE_NAME],
            "post": {
                "summary": "Run a command in the instance to its end; answer its exit code",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                                "required": ["command"],
                            }
                        }
                    }
                },
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"status_code": {"type": "integer"}}}, "The exit code"
                    ),
                    **ERRORS,
                    "409": _json(_ref("Error"), "instance_not_ready: it is still starting"),
                    "422": _json(_ref("Error"), "command_cut_short: past EXEC_TIMEOUT or 256 KiB of output"),
                    "429": _json(_ref("Error"), "too_many_commands: EXEC_PER_SESSION already running"),
                    "503": _json(_ref("Error"), "engine_error"),
                },
            },
        },
        "/instances/images": {
            "get": {
                "summary": "Images offered for instances",
                "responses": {"200": _json({"type": "array", "items": {"type": "string"}}, "Image names")},
            }
        },
        "/my/playground": {
            "get": {"summary": "This site's playground", "responses": {"200": _json({"type": "object"}, "Settings")}}
        },
        "/oauth/providers": {
            "get": {
                "summary": "The OAuth providers one may log in with",
                "responses": {"200": _json({"type": "array", "items": {"type": "string"}}, "Provider names")},
            }
        },
        "/oauth/providers/{provider}/login": {
            "parameters": [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "summary": "Log in through a provider (PWD's SDK opens it in a popup)",
                "description": 'Ends on a page that posts "done" to the window that opened it, then closes.',
                "parameters": [{"name": "next", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "302": {"description": "To the provider's authorization page"},
                    "404": {"description": "No such provider is configured (an HTML page)"},
                    "502": {"description": "The provider did not answer (an HTML page)"},
                },
            },
        },
        "/users/me": {
            "get": {
                "summary": "Who is logged in",
                "responses": {
                    "200": _json(_ref("User"), "The user"),
                    "401": _json(_ref("Error"), "not_logged_in"),
                },
            }
        },
        "/ping": {
            "get": {
                "summary": "Health for load balancers",
                "responses": {
                    "200": {"description": "Ready; `engines` maps each engine's address to its state"},
                    "503": {"description": "A sandbox engine unreachable"},
                    "507": {"description": "At capacity"},
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                "required": ["error", "message"],
            },
            "User": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "is_trainer": {"type": "boolean"},
                },
            },
            "NewSession": {
                "type": "object",
                "properties": {"session_id": {"type": "string"}, "hostname": {"type": "string"}},
            },
            "Setup": {
                "type": "object",
                "properties": {
                    "instances": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "hostname": {"type": "string"},
                                "image": {"type": "string"},
                                "type": {"const": "linux"},
                                "is_swarm_manager": {"type": "boolean"},
                                "is_swarm_worker": {"type": "boolean"},
                                "run": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                            },
                        },
                    }
                },
                "required": ["instances"],
            },
            "SetupReport": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "message": {"type": "string"},
                    "instances": {
                        "type": "array",
                        "items": {
                            "allOf": [_ref("Instance")],
                            "properties": {
                                "swarm": {"type": "array", "items": _ref("CommandResult")},
                                "commands": {"type": "array", "items": _ref("CommandResult")},
                            },
                        },
                    },
                },
            },
            "CommandResult": {
                "type": "object",
                "properties": {
                    "command": {"type": "array", "items": {"type": "string"}},
                    "status_code": {"type": ["integer", "null"], "description": "null: stopped at its deadline"},
                    "output": {"type": "string", "description": "stdout and stderr, the last 16 KiB"},
                },
            },
            "NewInstance": {
                "type": "object",
                "description": "Keys are case-insensitive. TLS fields are base64 PEM, write-only.",
                "properties": {
                    "ImageName": {"type": "string"},
                    "Hostname": {"type": "string"},
                    "Envs": {"type": "array", "items": {"type": "string"}},
                    "Networks": {"type": "array", "description": "Ignored"},
                    "Alias": {"type": "string"},
                    "ServerCert": {"type": "string"},
                    "ServerKey": {"type": "string"},
                    "CACert": {"type": "string"},
                    "Cert": {"type": "string", "description": "Ignored"},
                    "Key": {"type": "string", "description": "Ignored"},
                },
            },
            "Instance": {
                "type": "object",
                "properties": {
                    k: {"type": "string"}
                    for k in ("name", "hostname", "ip", "image", "state", "session_id", "proxy_host", "alias")
                },
            },
            "Uploaded": {
                "type": "object",
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"path": {"type": "string"}, "bytes": {"type": "integer"}},
                        },
                    }
                },
            },
            "DockerConnection": {
                "type": "object",
                "properties": {k: {"type": "string"} for k in ("docker_host", "cert_path", "unzip", "env", "context")},
            },
            "Session": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "state": {"enum": ["active", "ending", "ended"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "stack": {"type": "string"},
                    "stack_name": {"type": "string"},
                    "stack_state": {"enum": ["", "queued", "deploying", "ready", "failed"]},
                    "stack_output": {"type": "string", "description": "The tail of the stack deploy's output"},
                    "instances": {"type": "object", "additionalProperties": _ref("Instance")},
                },
            },
        }
    },
}
