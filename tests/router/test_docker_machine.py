"""docker-machine's flow: certificates made as it makes them, posted as its PWD driver posts them, then the CLI."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from django.conf import settings

from sessions.models import Playground
from tests.conftest import Api, sh
from tests.router.conftest import run_resolving, with_busybox


def openssl(arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments.split()], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_machine_certs(folder: Path, server_name: str) -> None:
    """Make ca.pem, cert.pem/key.pem (client) and server.pem/server-key.pem the way docker-machine does."""
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    (folder / "server.ext").write_text(f"extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{server_name},DNS:localhost\n")
    openssl("req -x509 -newkey rsa:2048 -nodes -days 1 -subj /O=learner -keyout ca-key.pem -out ca.pem", folder)
    for key, cert, subject, ext in (
        ("key.pem", "cert.pem", "/O=learner.client", "client.ext"),
        ("server-key.pem", "server.pem", "/O=learner.machine1", "server.ext"),
    ):
        openssl(f"req -newkey rsa:2048 -nodes -subj {subject} -keyout {key} -out request.csr", folder)
        sign = "x509 -req -in request.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1"
        openssl(f"{sign} -extfile {ext} -out {cert}", folder)


def driver_body(folder: Path, alias: str) -> dict[str, str]:
    """Return the body PWD's docker-machine driver posts to create its instance."""

    def b64(filename: str) -> str:
        return base64.b64encode((folder / filename).read_bytes()).decode()

    return {
        "ImageName": "",
        "Alias": alias,
        "ServerCert": b64("server.pem"),
        "ServerKey": b64("server-key.pem"),
        "CACert": b64("ca.pem"),
        "Cert": b64("cert.pem"),
        "Key": b64("key.pem"),
    }


def docker(folder: Path, host: str, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    tls = [f"--tlscacert={folder}/ca.pem", f"--tlscert={folder}/cert.pem", f"--tlskey={folder}/key.pem"]
    command = ["docker", "--tlsverify", *tls, "-H", f"tcp://{host}:{port}", *args]
    return run_resolving([host], command, folder)


def test_the_docker_cli_runs_containers_over_tls_through_the_router(
    live: Playground, api: Api, router_port: int, tmp_path: Path
) -> None:
    session_id = api.start()
    host = f"pwdmachine1-{session_id[:8]}-2375.{settings.PLAYGROUND_DOMAIN}"
    make_machine_certs(tmp_path, host)
    instance = api.add(session_id, driver_body(tmp_path, "machine1"))
    with_busybox(instance)
    assert sh(instance, "docker run -d --name web busybox httpd -f -p 80")[0] == 0

    ran = docker(tmp_path, host, router_port, "run", "--rm", "busybox", "echo", "ok")
    assert (ran.returncode, ran.stdout) == (0, "ok\n"), ran.stderr
    listed = docker(tmp_path, host, router_port, "ps", "--format", "{{.Names}} {{.Image}}")
    assert listed.stdout == "web busybox\n", listed.stderr


def test_a_client_certificate_of_another_ca_is_refused(
    live: Playground, api: Api, router_port: int, tmp_path: Path
) -> None:
    session_id = api.start()
    host = f"pwdmachine1-{session_id[:8]}-2375.{settings.PLAYGROUND_DOMAIN}"
    (tmp_path / "machine").mkdir()
    (tmp_path / "stranger").mkdir()
    make_machine_certs(tmp_path / "machine", host)
    make_machine_certs(tmp_path / "stranger", host)
    api.add(session_id, driver_body(tmp_path / "machine", "machine1"))
    # The stranger trusts the instance's real CA, but presents a client certificate the engine never issued.
    (tmp_path / "stranger" / "ca.pem").write_bytes((tmp_path / "machine" / "ca.pem").read_bytes())

    refused = docker(tmp_path / "stranger", host, router_port, "ps")
    assert refused.returncode != 0
    assert "certificate" in refused.stderr or "tls" in refused.stderr.lower(), refused.stderr


def test_a_name_with_another_sessions_prefix_is_refused(
    live: Playground, api: Api, router_port: int, tmp_path: Path
) -> None:
    session_id, other_id = api.start(), api.start()
    host = f"pwdmachine1-{session_id[:8]}-2375.{settings.PLAYGROUND_DOMAIN}"
    make_machine_certs(tmp_path, host)
    api.add(session_id, driver_body(tmp_path, "machine1"))

    wrong = f"pwdmachine1-{other_id[:8]}-2375.{settings.PLAYGROUND_DOMAIN}"
    refused = docker(tmp_path, wrong, router_port, "ps")
    assert refused.returncode != 0
    assert docker(tmp_path, host, router_port, "ps").returncode == 0
