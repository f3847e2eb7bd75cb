"""How ``devarch exec`` invokes the engine CLI (no engine needed): endpoint, flags, secrets."""

from __future__ import annotations

import shutil

import pytest

from devarch_adapters.docker import DockerRuntime
from devarch_adapters.podman import PodmanRuntime
from devarch_core.errors import EngineError, ValidationError

PODMAN_SOCKET = "unix:///tmp/devarch-test/podman.sock"


def which(found: dict[str, str]):
    return found.get


def test_docker_exec_points_the_cli_at_devarchs_endpoint(monkeypatch):
    """DOCKER_HOST is devarch's engine URL; options come before `--` and the container."""
    monkeypatch.setattr(shutil, "which", which({"docker": "/bin/docker"}))
    runtime = DockerRuntime("tcp://engine.example:2375")
    argv, env = runtime.exec_command(
        "devarch-s-web", ["sh", "-c", "id"], tty=True, user="root", workdir="/srv"
    )
    assert argv == [
        "/bin/docker",
        "exec",
        "-i",
        "-t",
        "-u",
        "root",
        "-w",
        "/srv",
        "--",
        "devarch-s-web",
        "sh",
        "-c",
        "id",
    ]
    assert env["DOCKER_HOST"] == "tcp://engine.example:2375"


def test_env_values_travel_in_the_environment_never_in_argv(monkeypatch):
    """`-e KEY=VALUE` becomes `-e KEY` with VALUE in the CLI's environment (not in `ps`)."""
    monkeypatch.setattr(shutil, "which", which({"docker": "/bin/docker"}))
    argv, env = DockerRuntime("unix:///x.sock").exec_command(
        "c", ["env"], tty=False, env=("TOKEN=s3cr3t-value", "HOME")
    )
    assert "s3cr3t-value" not in " ".join(argv)
    assert argv[argv.index("-e") + 1] == "TOKEN"
    assert "-t" not in argv
    assert env["TOKEN"] == "s3cr3t-value"
    with pytest.raises(ValidationError, match="--env: expected KEY=VALUE"):
        DockerRuntime("unix:///x.sock").exec_command("c", ["env"], tty=False, env=("=x",))


def test_podman_exec_uses_the_podman_cli_on_devarchs_socket(monkeypatch):
    """`podman --url SOCKET exec`, else the docker CLI on the Podman socket, else an error."""
    runtime = PodmanRuntime(PODMAN_SOCKET)
    monkeypatch.setattr(shutil, "which", which({"podman": "/bin/podman", "docker": "/bin/docker"}))
    argv, _ = runtime.exec_command("c", ["true"], tty=False)
    assert argv[:5] == ["/bin/podman", "--url", PODMAN_SOCKET, "exec", "-i"]
    monkeypatch.setattr(shutil, "which", which({"docker": "/bin/docker"}))
    argv, env = runtime.exec_command("c", ["true"], tty=False)
    assert argv[:3] == ["/bin/docker", "exec", "-i"]
    assert env["DOCKER_HOST"] == PODMAN_SOCKET
    monkeypatch.setattr(shutil, "which", which({}))
    with pytest.raises(EngineError, match="install podman"):
        runtime.exec_command("c", ["true"], tty=False)


def test_a_missing_docker_cli_is_an_engine_error(monkeypatch):
    """Without the docker CLI, exec says what to install."""
    monkeypatch.setattr(shutil, "which", which({}))
    with pytest.raises(EngineError, match="docker CLI is not on PATH"):
        DockerRuntime("unix:///x.sock").exec_command("c", ["true"], tty=False)


def test_exec_on_a_named_engine_ignores_the_callers_docker_settings(monkeypatch, tmp_path):
    """The CLI reaches the runtime's endpoint with its TLS files, not the caller's context/TLS."""
    import docker.tls  # noqa: PLC0415

    for name in ("ca", "cert", "key"):
        (tmp_path / name).write_text("x")
    monkeypatch.setattr(shutil, "which", which({"docker": "/bin/docker"}))
    monkeypatch.setenv("DOCKER_CONTEXT", "laptop")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", "/home/me/.docker/laptop")
    tls = docker.tls.TLSConfig(
        ca_cert=str(tmp_path / "ca"),
        client_cert=(str(tmp_path / "cert"), str(tmp_path / "key")),
        verify=True,
    )
    argv, env = DockerRuntime("tcp://box:2376", tls=tls).exec_command("c", ["true"], tty=False)
    assert argv[:6] == [
        "/bin/docker",
        "--tlsverify",
        f"--tlscacert={tmp_path / 'ca'}",
        f"--tlscert={tmp_path / 'cert'}",
        f"--tlskey={tmp_path / 'key'}",
        "exec",
    ]
    assert env["DOCKER_HOST"] == "tcp://box:2376"
    assert not {"DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} & set(env)
    argv, env = DockerRuntime("tcp://box:2375").exec_command("c", ["true"], tty=False)
    assert argv[:3] == ["/bin/docker", "exec", "-i"]
    assert "DOCKER_TLS_VERIFY" not in env
    # The environment's own engine (no endpoint given) keeps the caller's settings.
    _, env = DockerRuntime().exec_command("c", ["true"], tty=False)
    assert env["DOCKER_CONTEXT"] == "laptop"
    assert env["DOCKER_TLS_VERIFY"] == "1"
    monkeypatch.setattr(shutil, "which", which({"docker": "/bin/docker"}))
    _, env = PodmanRuntime(PODMAN_SOCKET).exec_command("c", ["true"], tty=False)
    assert env["DOCKER_HOST"] == PODMAN_SOCKET
    assert "DOCKER_TLS_VERIFY" not in env


def test_docker_and_podman_point_the_docker_cli_by_one_rule(monkeypatch):
    """Both set DOCKER_HOST and drop the caller's context/TLS; a same-named --env cannot undo it.

    One helper (``point_docker_cli``) for both runtimes, applied after the --env values: the
    CLI always reaches devarch's engine, never the one a container variable would name.
    """
    monkeypatch.setenv("DOCKER_CONTEXT", "laptop")
    monkeypatch.setattr(shutil, "which", which({"docker": "/bin/docker"}))
    runtimes = (DockerRuntime("tcp://engine.example:2375"), PodmanRuntime(PODMAN_SOCKET))
    for runtime, url in zip(runtimes, ("tcp://engine.example:2375", PODMAN_SOCKET), strict=True):
        argv, env = runtime.exec_command(
            "c", ["true"], tty=False, env=("DOCKER_HOST=tcp://elsewhere:1", "DOCKER_CONTEXT=x")
        )
        assert argv[0] == "/bin/docker"
        assert env["DOCKER_HOST"] == url
        assert "DOCKER_CONTEXT" not in env
