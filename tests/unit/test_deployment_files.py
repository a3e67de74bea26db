"""docker-compose.yml, the Dockerfile and .env.example stay in step with the code they run."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
import yaml
from celery import Celery

from shared.config import Settings
from shared.events import SUBSCRIBERS, queue_of

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
PROCFILE = ROOT / "Procfile"
CONFIG_SOURCE = ROOT / "shared" / "config.py"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VENV_BIN = Path(sys.executable).parent
APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<factory>[A-Za-z_]\w*)(?:\(\))?$")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?P<rule>:?[-?+])?")
ENV_LINE = re.compile(r"^#?\s*(?P<name>[A-Z][A-Z0-9_]*)=", re.MULTILINE)


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def project_services() -> dict[str, dict]:
    """The services that run the Rollcall image: built from the repository, or its image."""
    services = load_compose()["services"]
    images = {s.get("image") for s in services.values() if "build" in s}
    return {n: s for n, s in services.items() if "build" in s or s.get("image") in images}


def argv_of(service: dict) -> list[str]:
    command = service.get("command")
    assert command, "a project service must say which process it runs in `command:`"
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in names and i + 1 < len(argv):
            return argv[i + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def routed_queues() -> set[str]:
    """Queues that tasks are sent to: each subscriber's, and each task a beat schedules."""
    scheduled = {queue_of(entry["task"]) for entry in beat_schedules()}
    return {queue_of(task) for tasks in SUBSCRIBERS.values() for task in tasks} | scheduled


def beat_schedules() -> list[dict]:
    """The schedule entries of every Celery app the compose file runs (`celery -A MODULE`)."""
    entries = []
    for service in project_services().values():
        argv = argv_of(service)
        module = option(argv, "-A", "--app") if argv[0] == "celery" else None
        for app in vars(importlib.import_module(module)).values() if module else ():
            if isinstance(app, Celery):
                entries += (app.conf.beat_schedule or {}).values()
    return entries


def consumed_queues() -> set[str]:
    queues: set[str] = set()
    for service in project_services().values():
        argv = argv_of(service)
        if argv[0] == "celery" and "worker" in argv:
            queues.update((option(argv, "-Q", "--queues") or "").split(","))
    return queues - {""}


def check_gunicorn(name: str, service: dict, argv: list[str]) -> None:
    specs = [m for arg in argv[1:] if (m := APP_SPEC.match(arg))]
    assert len(specs) == 1, f"{name}: expected one 'module:create_app()' in {argv}"
    module = importlib.import_module(specs[0]["module"])
    factory = getattr(module, specs[0]["factory"], None)
    assert callable(factory), f"{name}: {specs[0]['module']} has no {specs[0]['factory']}"
    bind = option(argv, "--bind", "-b") or ""
    port = bind.rpartition(":")[2]
    assert bind.startswith("0.0.0.0:") and port.isdigit(), f"{name}: binds {bind!r}"
    published = [str(p).rpartition(":")[2] for p in service.get("ports", [])]
    assert port in published, f"{name}: listens on {port} but publishes {published}"
    probe = " ".join(map(str, service.get("healthcheck", {}).get("test", [])))
    assert f":{port}/healthz" in probe, f"{name}: no healthcheck on /healthz port {port}"


def check_python_module(name: str, argv: list[str]) -> None:
    module = option(argv, "-m")
    assert module, f"{name}: only `python -m MODULE` is expected, got {argv}"
    assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"


def check_celery(name: str, argv: list[str]) -> None:
    app_module = option(argv, "-A", "--app")
    assert app_module, f"{name}: celery without -A in {argv}"
    assert importlib.util.find_spec(app_module) is not None, f"{name}: no module {app_module}"
    module = importlib.import_module(app_module)
    assert any(isinstance(v, Celery) for v in vars(module).values()), (
        f"{name}: {app_module} defines no Celery app"
    )
    assert "worker" in argv or "beat" in argv, f"{name}: neither worker nor beat: {argv}"
    if "worker" in argv:
        queues = set((option(argv, "-Q", "--queues") or "").split(","))
        assert queues - {""}, f"{name}: a worker must name its queue with -Q"
        unknown = queues - routed_queues()
        assert not unknown, f"{name}: no task is routed to {unknown} ({routed_queues()})"


def check_rollcall(name: str, argv: list[str]) -> None:
    target = PYPROJECT["project"].get("scripts", {}).get("rollcall")
    assert target == "rollcall.cli:main", f"pyproject.toml declares rollcall = {target!r}"
    if importlib.util.find_spec("rollcall.cli") is None:
        pytest.skip("rollcall/cli.py is not written yet: cannot list the `rollcall` commands")
    cli_module = importlib.import_module("rollcall.cli")
    assert callable(getattr(cli_module, "main", None)), "rollcall.cli has no main()"
    group = cli_module.cli
    assert isinstance(group, click.Group), "rollcall.cli.cli is not a click group"
    assert len(argv) > 1, f"{name}: `rollcall` without a command"
    command = group.get_command(click.Context(group), argv[1])
    assert command is not None, f"{name}: `rollcall {argv[1]}` is not a command of rollcall.cli"


@pytest.mark.parametrize("name", sorted(project_services()))
def test_each_service_command_starts_a_real_entry_point(name):
    service = project_services()[name]
    argv = argv_of(service)
    assert "entrypoint" not in service, f"{name}: the image's processes differ by command only"
    program = Path(argv[0]).name
    if program == "gunicorn":
        check_gunicorn(name, service, argv)
    elif program in {"python", "python3"}:
        check_python_module(name, argv)
    elif program == "celery":
        check_celery(name, argv)
    elif program == "rollcall":
        check_rollcall(name, argv)
    else:
        pytest.fail(f"{name}: unrecognised command {argv}; teach this test about it")


def test_every_routed_queue_has_a_worker():
    missing = routed_queues() - consumed_queues()
    assert not missing, f"tasks are routed to {missing} but no compose worker consumes them"


def procfile_workers() -> dict[str, list[str]]:
    """The Celery workers `make run` starts (the Procfile), by the queue they consume."""
    workers = {}
    for line in PROCFILE.read_text().splitlines():
        _name, _, command = line.partition(":")
        argv = shlex.split(command.replace("%h", "host"))
        if argv[:1] == ["nice"]:  # background work, niced: the command after the niceness
            argv = argv[3:]
        if argv and argv[0] == "celery" and "worker" in argv:
            workers[option(argv, "-Q", "--queues")] = argv
    return workers


def test_background_work_yields_the_cpu_to_the_web_services():
    """In the Procfile the relays, workers and beat run niced; in compose their containers
    have a fraction of the web services' CPU shares: a gate's scan goes first on a shared host."""
    background = ("relay", "worker", "beat")
    for line in PROCFILE.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not name.startswith("#") and name.strip().endswith(background):
            assert command.split()[:3] == ["nice", "-n", "10"], name
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        if name.endswith(background):
            assert service.get("cpu_shares", 1024) < 1024, name
        elif name in ("registration", "checkin", "notify"):
            assert "cpu_shares" not in service, name


def compose_workers() -> dict[str, list[str]]:
    workers = {}
    for service in project_services().values():
        argv = argv_of(service)
        if argv[0] == "celery" and "worker" in argv:
            workers[option(argv, "-Q", "--queues")] = argv
    return workers


def test_the_procfile_runs_a_worker_for_each_queue_compose_does():
    assert set(procfile_workers()) == set(compose_workers()) == routed_queues()
    for queue, argv in procfile_workers().items():
        assert option(argv, "-A", "--app") == option(compose_workers()[queue], "-A", "--app")


def test_a_long_import_leaves_the_registration_worker_a_process_for_arrivals_and_purge():
    # registration.import_delegates can run for minutes; record_arrival and purge_expired
    # share the queue (queue = task-name prefix), so one process must stay free for them.
    for argv in (procfile_workers()["registration"], compose_workers()["registration"]):
        assert int(option(argv, "--concurrency", "-c") or 0) >= 2, argv


def test_compose_has_the_production_shape():
    services = load_compose()["services"]
    expected = {
        "postgres", "redis", "mailpit", "migrate", "registration", "checkin", "notify",
        "registration-relay", "checkin-relay", "checkin-worker", "notify-worker", "notify-beat",
    }  # fmt: skip
    assert expected <= set(services), f"missing services: {expected - set(services)}"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "healthcheck" in services["postgres"] and services["postgres"].get("volumes")
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly yes" in " ".join(argv_of(services["redis"]))
    assert services["mailpit"]["image"].startswith("axllent/mailpit")


def test_project_services_scale_and_wait_for_migrations():
    services = project_services()
    migrators = [n for n, s in services.items() if argv_of(s)[:2] == ["rollcall", "migrate"]]
    assert len(migrators) == 1, f"expected one `rollcall migrate` service, got {migrators}"
    migrate = migrators[0]
    assert services[migrate].get("restart", "no") == "no", "migrate is a one-shot"
    assert services[migrate]["depends_on"]["postgres"]["condition"] == "service_healthy"
    beats = [n for n, s in services.items() if "beat" in argv_of(s)]
    assert len(beats) == 1, f"exactly one celery beat, got {beats}"
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: container_name blocks --scale"
        if name != migrate:
            condition = service.get("depends_on", {}).get(migrate, {}).get("condition")
            assert condition == "service_completed_successfully", f"{name}: starts before {migrate}"
        if argv_of(service)[0] != "gunicorn":
            assert "ports" not in service, f"{name}: fixed host ports block --scale"


@pytest.fixture(scope="module")
def config_reads():
    source = CONFIG_SOURCE.read_text()
    baseline = Settings.from_env({})

    def reads(name: str) -> bool:
        """Named in shared/config.py, or built there (REGISTRATION_DATABASE_URL) and used."""
        if re.search(rf"\b{name}\b", source):
            return True
        for probe in ("12345", "true", "probe://example"):
            try:
                if Settings.from_env({name: probe}) != baseline:
                    return True
            except ValueError:
                return True
        return False

    return reads


def compose_environment(service: dict) -> set[str]:
    env = service.get("environment") or {}
    return {e.split("=", 1)[0] for e in env} if isinstance(env, list) else set(env)


def test_compose_sets_only_variables_the_code_reads(config_reads):
    for name, service in project_services().items():
        assert "env_file" not in service, f"{name}: list variables so this test can check them"
        unknown = {v for v in compose_environment(service) if not config_reads(v)}
        assert not unknown, f"{name} sets {unknown}, which shared/config.py does not read"


def test_signing_key_reaches_registration_web_and_worker_only():
    holders = [
        n for n, s in project_services().items() if "BADGE_SIGNING_KEY" in compose_environment(s)
    ]
    assert holders == ["registration", "registration-worker"]  # the worker imports lists


def test_env_example_documents_exactly_the_configuration(config_reads):
    documented = set(ENV_LINE.findall(ENV_EXAMPLE.read_text()))
    interpolated = {m["name"] for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    stray = {n for n in documented if not config_reads(n) and n not in interpolated}
    assert not stray, f".env.example lists {stray}, read neither by the code nor the compose file"
    source = CONFIG_SOURCE.read_text()
    read = set(re.findall(r"env\.get\(\s*f?\"([A-Z][A-Z0-9_]*)\"", source))
    read |= {f.name.upper() for f in dataclasses.fields(Settings) if config_reads(f.name.upper())}
    assert not read - documented, f".env.example misses {read - documented}"
    assert not interpolated - documented, f".env.example misses {interpolated - documented}"


def required_compose_variables() -> set[str]:
    text = COMPOSE.read_text()
    return {m["name"] for m in INTERPOLATION.finditer(text) if m["rule"] in {":?", "?"}}


def test_compose_file_matches_the_compose_spec():
    checker = VENV_BIN / "check-jsonschema"
    assert checker.exists(), f"{checker} missing: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_v1_accepts_the_file(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        hint = "apt-get install -y --no-install-recommends docker-compose"
        if os.environ.get("CI", "").lower() not in {"", "0", "false"}:
            pytest.fail(f"docker-compose (v1) is not installed on CI: {hint}")
        pytest.skip(f"docker-compose (v1) is not installed: {hint}")
    placeholders = {name: "placeholder" for name in required_compose_variables()}
    no_dotenv = tmp_path / "empty.env"  # a developer's own .env must not decide the result
    no_dotenv.write_text("")
    result = subprocess.run(
        [binary, "--env-file", str(no_dotenv), "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env={**os.environ, **placeholders},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_runs_the_installed_project_on_python_311_as_non_root():
    instructions = dockerfile_instructions()
    bases = [args.split()[0] for op, args in instructions if op == "FROM"]
    version = re.match(r"(?:docker\.io/)?(?:library/)?python:3\.(\d+)", bases[-1])
    assert version and int(version[1]) >= 11, f"final stage is {bases[-1]}, not python 3.11+"
    runs = " && ".join(args for op, args in instructions if op == "RUN")
    assert re.search(r"pip install (?:[^&;|]*\s)?\.(?:\s|$)", runs), "the project isn't installed"
    assert not re.search(r"\.\[[^\]]*dev", runs), "dev extras do not belong in the image"
    users = [args.strip() for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the image runs as root"
    envs = " ".join(args for op, args in instructions if op == "ENV")
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", envs)
    copied = " ".join(args for op, args in instructions if op == "COPY")
    for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"(^|\s)(\./)?{package}/?\s", copied + " "), f"{package} not copied"


def test_dockerignore_keeps_local_state_out_of_the_build():
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".git", ".venv", "var", ".env"} <= ignored
    for kept in ("pyproject.toml", "shared", "services", "rollcall"):
        assert kept not in ignored
