"""A tiny OpenID Connect provider on a loopback port: it logs in whoever asks, as one fixed learner."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "playground-test"
CLIENT_SECRET = "not-a-secret"
LEARNER = {"sub": "learner-1", "preferred_username": "lena", "name": "Lena Learner"}


@dataclass
class Provider:
    url: str
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    # code -> the PKCE challenge it was issued for
    codes: dict[str, str] = field(default_factory=dict)


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    provider = Provider(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self.answer(200, discovery(provider.url))
            elif url.path == "/authorize":
                provider.authorize_requests.append(query)
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query.get("code_challenge", "")
                target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif url.path == "/userinfo":
                self.answer(200, LEARNER)
            elif url.path == "/jwks":
                public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                self.answer(200, {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
            else:
                self.answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
            challenge = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if self.path != "/token" or challenge is None or form.get("client_id") != CLIENT_ID or digest != challenge:
                self.answer(400, {"error": "invalid_grant"})
                return
            now = int(time.time())
            claims = {**LEARNER, "iss": provider.url, "aud": CLIENT_ID, "iat": now, "exp": now + 300}
            id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
            self.answer(200, {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


def discovery(url: str) -> dict[str, Any]:
    return {
        "issuer": url,
        "authorization_endpoint": f"{url}/authorize",
        "token_endpoint": f"{url}/token",
        "userinfo_endpoint": f"{url}/userinfo",
        "jwks_uri": f"{url}/jwks",
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
