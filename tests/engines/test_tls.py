"""An engine on another host, reached over TCP with TLS both ways (issue 17): every path to an instance works
through it, ends of input included, and nothing without the engine's client certificate gets in."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from cryptography import x509
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from docker.errors import NotFound

from engine import ExecCutShort, execs, images, inner, relay, streams, tlsstream, usage
from engine import daemon as engine_daemon
from engine.daemon import Daemon, default
from router import routes
from router.hostnames import DirectName
from sessions.models import Engine, Session
from terminals import hub, ports
from tests.conftest import Api
from tests.engines.conftest import GIB, SECOND_TLS, SECOND_TLS_URL, SECOND_URL, start_second
from tests.gateway.conftest import Ssh, user_for
from tests.router.conftest import BUILD_BUSYBOX
from tests.router.test_http_routing import curl, url
from tests.terminals.conftest import PROMPT
from tests.terminals.test_hub import Screen

Pool = tuple[Engine, Engine]


@pytest.fixture
def instance(tls_pool: Pool, api: Api) -> dict[str, Any]:
    """An instance of a session on the engine over TLS (the main engine drained: every start goes there)."""
    Engine.objects.filter(name="main").update(draining=True)
    session_id = api.start()
    assert Session.objects.get(pk=session_id).engine.name == "second"  # type: ignore[union-attr]
    return api.add(session_id)


def over_tls() -> Daemon:
    return Daemon(SECOND_TLS_URL, SECOND_TLS)


def test_the_instance_runs_there_and_answers_commands_over_tls(instance: dict[str, Any]) -> None:
    # The very engine behind the unix socket too: the instance is there, and nowhere else.
    assert Daemon(SECOND_URL).client().api.inspect_container(instance["name"])["State"]["Running"]
    code, output = execs.exec_run(over_tls(), instance["name"], ["sh", "-c", "echo $((6*7)); echo err >&2"])
    assert (code, sorted(output.split())) == (0, [b"42", b"err"])  # stdout and stderr, in either order
    # The output cap and the deadline hold over TLS as over a socket.
    with pytest.raises(ExecCutShort, match="printed more"):
        execs.exec_run(over_tls(), instance["name"], ["head", "-c", "300000", "/dev/zero"], limit=100_000)
    with pytest.raises(ExecCutShort, match="in time"):
        execs.exec_run(over_tls(), instance["name"], ["sleep", "30"], timeout=1)


def test_the_editor_and_ssh_end_their_input_over_tls(instance: dict[str, Any], client: Client, ssh: Ssh) -> None:
    # Both end the process's stdin with a half-close, which asyncio's own TLS transport cannot do.
    path = f"/sessions/{instance['session_id']}/instances/{instance['name']}/file?path=/root/a.txt"
    saved = client.put(path, "written over tls\n", content_type="text/plain")
    assert saved.status_code == 200, saved.content
    assert saved.json() == {"path": "/root/a.txt", "bytes": 17}
    assert base64.b64decode(client.get(path).content) == b"written over tls\n"
    done = ssh.run(user_for(instance), "wc -c; echo ended", input="x" * 200_000)
    assert (done.returncode, done.stdout) == (0, "200000\nended\n"), done.stderr


async def test_the_terminal_and_stats_over_tls(instance: dict[str, Any]) -> None:
    daemon = await sync_to_async(lambda: Session.objects.get(pk=instance["session_id"]).daemon)()
    assert daemon == over_tls()
    screen = Screen()
    viewer = await hub.join(daemon, instance["name"], screen.send, acknowledged=False, size=None)
    try:
        await screen.until(PROMPT)
        # More output than a TLS record, and than one read: it arrives whole, in order.
        await viewer.write("seq 1 30000 | tail -n 1; echo tls-$((20+22))\r")
        await screen.until("tls-42")
        assert "30000" in screen.text
    finally:
        await viewer.leave()
        await hub.forget(instance["name"])
    measured = await usage.usage(daemon, instance["name"], timeout=10)
    assert measured.memory > 0


async def test_a_large_output_is_read_whole_with_flow_control(instance: dict[str, Any]) -> None:
    stream = await streams.open_exec(over_tls(), instance["name"], ["head", "-c", "3000000", "/dev/zero"], tty=False)
    received = 0
    try:
        while True:
            kind, data = await stream.read_frame()
            if not kind:
                break
            received += len(data)
    finally:
        stream.close()
    assert received == 3_000_000


def test_without_the_engines_client_files_nothing_gets_in(tls_pool: Pool, tmp_path: Path) -> None:
    # Plain HTTP to the TLS port, and TLS with a CA the engine's certificate does not chain to.
    assert Daemon(SECOND_TLS_URL).problem(3) is not None
    stranger = tmp_path / "stranger"
    shutil.copytree(SECOND_TLS, stranger)
    shutil.copy(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt", stranger / "ca.pem")
    assert "CERTIFICATE_VERIFY_FAILED" in (Daemon(SECOND_TLS_URL, str(stranger)).problem(3) or "")
    # A client certificate the engine's CA did not sign: the engine refuses the handshake.
    (stranger / "ca.pem").write_bytes(Path(SECOND_TLS, "ca.pem").read_bytes())
    (stranger / "cert.pem").write_bytes(Path(SECOND_TLS).parent.joinpath("server-cert.pem").read_bytes())
    (stranger / "key.pem").write_bytes(Path(SECOND_TLS).parent.joinpath("server-key.pem").read_bytes())
    assert Daemon(SECOND_TLS_URL, str(stranger)).problem(3) is not None


def test_adding_an_engine_over_tls_checks_its_files(tls_pool: Pool, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="lacks ca.pem, cert.pem, key.pem"):
        call_command("engines", "add", "box", SECOND_TLS_URL, "--memory", "1G", "--tls", str(tmp_path))
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("not a certificate\n")
    with pytest.raises(CommandError, match="do not load"):
        call_command("engines", "add", "box", SECOND_TLS_URL, "--memory", "1G", "--tls", str(tmp_path))
    with pytest.raises(CommandError, match="TLS is for an engine at tcp://"):
        call_command("engines", "add", "box", "unix:///run/playground/x.sock", "--memory", "1G", "--tls", SECOND_TLS)
    Engine.objects.filter(name="second").delete()
    # A CA that did not sign the engine's certificate: nothing to start, the files to fix.
    for name in ("cert.pem", "key.pem"):
        shutil.copy(Path(SECOND_TLS, name), tmp_path / name)
    shutil.copy(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt", tmp_path / "ca.pem")
    with pytest.raises(CommandError, match="check its TLS files and the names its certificate holds"):
        call_command("engines", "add", "box", SECOND_TLS_URL, "--memory", "1G", "--tls", str(tmp_path))
    call_command("engines", "add", "box", SECOND_TLS_URL, "--memory", "1G", "--tls", SECOND_TLS)
    added = Engine.objects.get(name="box")
    assert (added.url, added.tls, added.daemon.problem(3)) == (SECOND_TLS_URL, SECOND_TLS, None)


def test_a_relative_tls_directory_is_refused(db: None) -> None:
    # The admin takes what it is given; the worker, the router and the gateway do not share its working directory.
    with pytest.raises(ValidationError, match="absolute path"):
        Engine(name="box", url=SECOND_TLS_URL, memory_bytes=GIB, tls="engine2-tls/client").full_clean()


async def test_an_engine_that_never_finishes_the_handshake_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tlsstream, "HANDSHAKE_TIMEOUT", 0.5)
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            await Daemon(f"tcp://127.0.0.1:{port}", SECOND_TLS).open_connection()
    finally:
        silent.close()


def serve_page(instance: dict[str, Any], port: int) -> str:
    """Serve a page and a 2 MB file from inside the instance on port; return the file's sha256."""
    script = (
        f"mkdir -p /tmp/www && echo relayed-{instance['hostname']} > /tmp/www/index.html && "
        f"head -c 2000000 /dev/urandom > /tmp/www/big && busybox httpd -p {port} -h /tmp/www && "
        "sha256sum /tmp/www/big"
    )
    code, output = execs.exec_run(over_tls(), instance["name"], ["sh", "-c", script])
    assert code == 0, output
    return output.decode().split()[0]


def test_the_router_reaches_its_ports_from_inside_it(
    instance: dict[str, Any], router_port: int, tmp_path: Path
) -> None:
    # Its engine is not this host's (a tcp:// engine beside a unix one): its address is never connected to from
    # here; the router connects from inside the instance, through the engine's API (engine/relay).
    assert routes.resolve(DirectName(instance["ip"], instance["session_id"], 8080), False) == routes.Target(
        instance["ip"], 8080, instance["hostname"], relay=(over_tls(), instance["name"])
    )
    digest = serve_page(instance, 8080)
    assert curl(url(instance["proxy_host"], router_port, 8080)) == ("200", f"relayed-{instance['hostname']}\n")
    status, _ = curl(url(instance["proxy_host"], router_port, 8080, "/big"), "-o", str(tmp_path / "big"))
    assert (status, hashlib.sha256((tmp_path / "big").read_bytes()).hexdigest()) == ("200", digest)


def test_ssh_forwards_its_ports_from_inside_it(instance: dict[str, Any], ssh: Ssh) -> None:
    serve_page(instance, 8081)
    request = "GET / HTTP/1.0\r\nHost: x\r\n\r\n"
    result = ssh.run(user_for(instance), extra=("-W", f"{instance['ip']}:8081"), input=request)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("HTTP/1.") and result.stdout.endswith(f"relayed-{instance['hostname']}\n")
    # Nothing there: the relay ends at once (nc could not connect), and the channel with it.
    result = ssh.run(user_for(instance), extra=("-W", "localhost:9999"), input="")
    assert result.stdout == ""


async def test_its_published_ports_are_found_from_inside_it(instance: dict[str, Any]) -> None:
    # The page's port badges ask the instance's own engine: relayed, as the router's connections are.
    engine = await ports.instance_engine(instance["name"])
    assert engine is not None and engine.relay_from == (over_tls(), instance["name"])
    assert await inner.published_ports(engine, 10) == []
    async with inner.doorbell(engine, 10) as bell:
        script = f"{BUILD_BUSYBOX} && docker run -d -p 8080:80 busybox httpd -f -p 80"
        code, output = await asyncio.to_thread(execs.exec_run, over_tls(), instance["name"], ["sh", "-c", script])
        assert code == 0, output
        async with asyncio.timeout(10):
            await bell.rung()
    assert await inner.published_ports(engine, 10) == [8080]


async def test_output_nobody_reads_waits_in_the_engine_and_arrives_whole(instance: dict[str, Any]) -> None:
    # A slow viewer or ssh client pauses reading: the engine must hold the rest, not this process's memory.
    size = 40_000_000
    stream = await streams.open_exec(over_tls(), instance["name"], ["head", "-c", str(size), "/dev/zero"], tty=False)
    try:
        await asyncio.sleep(3)
        tls = stream.writer.transport._tls  # type: ignore[attr-defined]
        held = tls._incoming.pending + len(stream.reader._buffer)  # type: ignore[attr-defined]
        assert held < 4_000_000
        received = 0
        while True:
            kind, data = await asyncio.wait_for(stream.read_frame(), 30)
            if not kind:
                break
            received += len(data)
    finally:
        stream.close()
    assert received == size


class _Collected(streams.ExecOutput):
    def __init__(self) -> None:
        super().__init__(tty=False)
        self.out = bytearray()

    def output(self, kind: int, data: bytes) -> None:
        self.out += data


async def test_output_that_ended_before_the_pipe_ends_the_pipe_over_tls(instance: dict[str, Any]) -> None:
    # As the ssh gateway pipes a command that finished before its pipe was in place (`ssh node true`).
    stream = await streams.open_exec(over_tls(), instance["name"], ["echo", "early"], tty=False)
    stream.write_eof()
    await asyncio.sleep(1)
    collected = _Collected()
    await stream.pipe_output(collected)
    try:
        await asyncio.wait_for(collected.ended, 10)
    finally:
        stream.close()
    assert bytes(collected.out) == b"early\n"


def _engine_side() -> ssl.SSLContext:
    """The engine's own TLS settings, for a stand-in engine that misbehaves."""
    where = Path(SECOND_TLS).parent
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(where / "server-cert.pem", where / "server-key.pem")
    context.load_verify_locations(where / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def _stand_in(then: Any) -> tuple[asyncio.Server, Daemon]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await then(writer)
        await reader.read()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=_engine_side())
    return server, Daemon(f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}", SECOND_TLS)


async def test_an_end_without_tls_close_is_a_broken_connection_not_an_error_on_write() -> None:
    async def hang_up_without_close_notify(writer: asyncio.StreamWriter) -> None:
        writer.write(b"some")
        await writer.drain()
        writer.transport.get_extra_info("socket")._sock.shutdown(socket.SHUT_WR)

    server, daemon = await _stand_in(hang_up_without_close_notify)
    try:
        reader, writer = await daemon.open_connection()
        assert await reader.read() == b"some"
        writer.write(b"more input")  # as a plain socket whose peer has gone: no exception here
        await asyncio.sleep(0.1)
        writer.close()
    finally:
        server.close()


async def test_a_record_tls_refuses_is_an_error_not_the_end_of_output() -> None:
    async def send_a_forged_record(writer: asyncio.StreamWriter) -> None:
        writer.write(b"genuine")
        await writer.drain()
        raw = writer.transport.get_extra_info("socket")._sock
        raw.send(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # application data TLS cannot authenticate

    server, daemon = await _stand_in(send_a_forged_record)
    try:
        reader, writer = await daemon.open_connection()
        assert await reader.readexactly(7) == b"genuine"
        with pytest.raises(ssl.SSLError):
            await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        server.close()


def test_new_names_give_the_engine_a_new_certificate_and_keep_the_client_files(second_engine: Daemon) -> None:
    client = Path(SECOND_TLS)
    kept = {name: (client / name).read_bytes() for name in ("ca.pem", "cert.pem", "key.pem")}
    try:
        start_second(ENGINE_TLS_NAMES="box2.example,203.0.113.7")
        names = x509.load_pem_x509_certificate(client.parent.joinpath("server-cert.pem").read_bytes()).extensions
        assert {"box2.example", "203.0.113.7"} <= {
            str(n.value) for n in names.get_extension_for_class(x509.SubjectAlternativeName).value
        }
        assert {name: (client / name).read_bytes() for name in kept} == kept
        assert Daemon(SECOND_TLS_URL, SECOND_TLS).problem(10) is None  # the engine restarted with it
    finally:
        start_second()
    assert Daemon(SECOND_TLS_URL, SECOND_TLS).problem(10) is None


async def test_its_client_files_are_read_once_and_off_the_event_loop(
    second_engine: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_by: list[threading.Thread] = []
    read = engine_daemon._read_tls

    def read_and_tell(tls: str) -> ssl.SSLContext:
        read_by.append(threading.current_thread())
        return read(tls)

    monkeypatch.setattr(engine_daemon, "_tls_contexts", {})
    monkeypatch.setattr(engine_daemon, "_read_tls", read_and_tell)
    for _ in range(2):
        _, writer = await over_tls().open_connection()
        writer.close()
    assert len(read_by) == 1
    assert read_by[0] is not threading.main_thread()


def test_a_malformed_name_stops_the_start_and_leaves_the_engine_as_it_was(second_engine: Daemon) -> None:
    server = Path(SECOND_TLS).parent
    kept = {name: (server / name).read_bytes() for name in ("server-cert.pem", "server-key.pem", "server-names")}
    try:
        with pytest.raises(subprocess.CalledProcessError) as failed:
            start_second(ENGINE_TLS_NAMES="box2.example,203.0.113.7.9")
        assert "bad ip address" in failed.value.stderr.decode()
        # Neither a new key beside the old certificate nor the names recorded as served: the engine still answers.
        assert {name: (server / name).read_bytes() for name in kept} == kept
        assert Daemon(SECOND_TLS_URL, SECOND_TLS).problem(10) is None
    finally:
        start_second()
    assert Daemon(SECOND_TLS_URL, SECOND_TLS).problem(10) is None


async def test_an_engine_that_hangs_up_during_the_handshake_is_given_up_at_once() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the client's hello, then the end of what it is sent
        writer.write_eof()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(tlsstream.HANDSHAKE_TIMEOUT / 2):
            with pytest.raises(ssl.SSLError):
                await Daemon(f"tcp://127.0.0.1:{port}", SECOND_TLS).open_connection()
    finally:
        server.close()


async def test_connections_relayed_into_one_instance_are_bounded(
    instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "RELAYS_PER_INSTANCE", 2)
    listen = "for p in 9001 9002 9003; do (sleep 60 | busybox nc -l -p $p >/dev/null &); done; sleep 0.3"
    await asyncio.to_thread(execs.exec_run, over_tls(), instance["name"], ["sh", "-c", listen])
    held = [
        (await relay.create_connection(over_tls(), instance["name"], asyncio.Protocol, instance["ip"], port))[0]
        for port in (9001, 9002)
    ]
    with pytest.raises(relay.Busy, match="2 connections to"):
        await relay.create_connection(over_tls(), instance["name"], asyncio.Protocol, instance["ip"], 9003)
    held[0].close()
    async with asyncio.timeout(10):  # its place is free once its process is killed (engine/relay, MARK)
        while relay._open[(over_tls().url, instance["name"])] > 1:
            await asyncio.sleep(0.1)
    transport, _ = await relay.create_connection(over_tls(), instance["name"], asyncio.Protocol, instance["ip"], 9003)
    for each in (held[1], transport):
        each.close()


def test_an_image_is_copied_to_the_engine_over_tls(tls_pool: Pool) -> None:
    # As engines add copies the sandbox image there (here a tiny one, made for the test).
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        member = tarfile.TarInfo("hello.txt")
        member.size = 6
        tar.addfile(member, io.BytesIO(b"hello\n"))
    tag = "playground/tls-copy-test:latest"
    default().client().api.import_image_from_data(archive.getvalue(), repository=tag.split(":")[0], tag="latest")
    try:
        assert images.copy_image(default(), over_tls(), tag) is True
        assert images.copy_image(default(), over_tls(), tag) is False  # there already
        assert over_tls().client().api.inspect_image(tag)["Id"] == default().client().api.inspect_image(tag)["Id"]
    finally:
        for daemon in (default(), over_tls()):
            with contextlib.suppress(NotFound):
                daemon.client().api.remove_image(tag, force=True)
