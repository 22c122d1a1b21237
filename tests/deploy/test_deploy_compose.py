"""deploy/: the production compose file validates (Debian's docker-compose, no daemon needed), needs
every secret it uses, and agrees with the ClickHouse, Keeper and Caddy configuration it mounts; both
Caddy configurations pass Caddy's own validation; the runbook's commands exist."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import typer
import yaml

from core import cli
from sensor import cli as sensor_cli

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRETS = ("CLICKHOUSE_PASSWORD", "CLICKHOUSE_INTERSERVER_PASSWORD", "CLICKHOUSE_CLUSTER_SECRET",
           "POSTGRES_PASSWORD", "REDIS_PASSWORD", "MIERUKA_METRICS_TOKEN", "MIERUKA_SITE_ADDRESS")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # ./dev installs it (want_system_packages)
        pytest.skip(f"{name} is not installed")
    return path


def compose_config(tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess:
    """`docker-compose config` of the deploy file with exactly these variables (no deploy/.env)."""
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return subprocess.run([tool("docker-compose"), "--env-file", str(env_file), "-f",
                           str(DEPLOY / "docker-compose.yml"), "config"],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=60)


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> dict:
    done = compose_config(tmp_path_factory.mktemp("compose"), {name: f"{name.lower()}-value" for name in SECRETS})
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def cluster_xml() -> ET.Element:
    return ET.parse(DEPLOY / "clickhouse" / "cluster.xml").getroot()


def services_of(compose: dict, image: str) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image", "").startswith(image + ":")}


def mounts(service: dict) -> dict[str, str]:
    """Container path → host path of a service's bind mounts."""
    return {m.split(":")[1]: m.split(":")[0] for m in service.get("volumes", []) if m.startswith("/")}


def test_every_secret_must_be_given(tmp_path):
    def without(missing: str) -> subprocess.CompletedProcess:
        folder = tmp_path / missing
        folder.mkdir()
        return compose_config(folder, {name: "x" for name in SECRETS if name != missing})

    with ThreadPoolExecutor(len(SECRETS)) as pool:  # a docker-compose run each, at once
        for missing, done in zip(SECRETS, pool.map(without, SECRETS)):
            assert done.returncode != 0 and f"set {missing} in deploy/.env" in done.stderr, missing


def test_the_example_env_file_lists_every_variable_the_compose_file_reads():
    used = set(re.findall(r"\$\{(\w+)", (DEPLOY / "docker-compose.yml").read_text()))
    listed = {line.split("=")[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
              if line and not line.startswith("#")}
    assert used == listed and set(SECRETS) <= listed


def test_clickhouse_servers_are_the_cluster_the_core_is_given(compose, cluster_xml):
    servers = services_of(compose, "clickhouse/clickhouse-server")
    clusters = cluster_xml.find("remote_servers")
    assert clusters.get("replace") == "true" and len(clusters) == 1  # no sample clusters beside it
    cluster = clusters[0]
    for name in ("core", "migrate"):
        assert compose["services"][name]["environment"]["MIERUKA_CLICKHOUSE_CLUSTER"] == cluster.tag
    listed = {}
    for number, shard in enumerate(cluster.findall("shard"), 1):
        assert shard.findtext("internal_replication") == "true"  # Replicated tables copy the rows
        for replica in shard.findall("replica"):
            listed[replica.findtext("host")] = (f"{number:02d}", replica.findtext("port"))
    assert len(cluster.findall("shard")) == 2 and len(listed) == 4
    assert set(listed) == set(servers)
    macros = cluster_xml.find("macros")
    assert macros.find("shard").get("from_env") == "CLICKHOUSE_SHARD"
    assert macros.find("replica").get("from_env") == "CLICKHOUSE_REPLICA"
    for name, server in servers.items():
        env = server["environment"]
        # the macros a server substitutes in its tables' Keeper paths are its place in the cluster
        assert (env["CLICKHOUSE_SHARD"], "9000") == listed[name] and env["CLICKHOUSE_REPLICA"] == name
        assert server["hostname"] == name
        assert mounts(server) == {"/etc/clickhouse-server/config.d/cluster.xml": str(DEPLOY / "clickhouse/cluster.xml"),
                                  "/etc/clickhouse-server/users.d/mieruka.xml": str(DEPLOY / "clickhouse/users.xml")}
        assert f"{name}:/var/lib/clickhouse:rw" in server["volumes"]
    # ch-lb spreads the core's queries over every server
    lb = (DEPLOY / "caddy" / "clickhouse.Caddyfile").read_text()
    assert set(re.search(r"reverse_proxy ([^{]+)\{", lb).group(1).split()) == {f"{h}:8123" for h in servers}
    assert compose["services"]["core"]["environment"]["MIERUKA_CLICKHOUSE_URL"].startswith(
        "http://mieruka:clickhouse_password-value@ch-lb:8123/")


def test_keeper_ensemble_agrees(compose, cluster_xml):
    keepers = services_of(compose, "clickhouse/clickhouse-keeper")
    config = ET.parse(DEPLOY / "keeper" / "keeper.xml").getroot().find("keeper_server")
    raft = {s.findtext("hostname"): s.findtext("id") for s in config.find("raft_configuration")}
    assert len(raft) == 3 and len(set(raft.values())) == 3  # a quorum survives one node down
    assert set(raft) == set(keepers)
    assert config.find("server_id").get("from_env") == "KEEPER_SERVER_ID"
    for name, keeper in keepers.items():
        assert keeper["environment"]["KEEPER_SERVER_ID"] == raft[name] and keeper["hostname"] == name
        assert mounts(keeper) == {"/etc/clickhouse-keeper/keeper_config.xml": str(DEPLOY / "keeper/keeper.xml")}
    nodes = {(n.findtext("host"), n.findtext("port")) for n in cluster_xml.find("zookeeper").findall("node")}
    assert nodes == {(name, config.findtext("tcp_port")) for name in keepers}
    for server in services_of(compose, "clickhouse/clickhouse-server").values():
        assert set(server["depends_on"]) == set(keepers)


def test_clickhouse_credentials_come_from_the_environment(compose, cluster_xml):
    users = ET.parse(DEPLOY / "clickhouse" / "users.xml").getroot()
    assert users.find("users/default").get("remove") == "remove"  # no passwordless default user
    core_user = users.find("users/mieruka")
    assert core_user.find("password").get("from_env") == "CLICKHOUSE_PASSWORD" and not core_user.findtext("password")
    assert cluster_xml.find("remote_servers")[0].find("secret").get("from_env") == "CLICKHOUSE_CLUSTER_SECRET"
    interserver = cluster_xml.find("interserver_http_credentials/password")
    assert interserver.get("from_env") == "CLICKHOUSE_INTERSERVER_PASSWORD"
    for server in services_of(compose, "clickhouse/clickhouse-server").values():
        for name in ("CLICKHOUSE_PASSWORD", "CLICKHOUSE_CLUSTER_SECRET", "CLICKHOUSE_INTERSERVER_PASSWORD"):
            assert server["environment"][name] == f"{name.lower()}-value"
    # the core's user connects from the store network only, which has no route out
    store = compose["networks"]["store"]
    assert store["internal"] is True
    assert store["ipam"]["config"][0]["subnet"] in [ip.text for ip in core_user.find("networks")]
    profile = users.find(f"profiles/{core_user.findtext('profile')}")
    assert profile.findtext("distributed_foreground_insert") == "1" and profile.findtext("insert_deduplicate") == "1"


def test_core_workers_behind_the_proxy(compose):
    core, caddy, migrate = (compose["services"][n] for n in ("core", "caddy", "migrate"))
    assert core["command"][:3] == ["mieruka", "serve", "--workers"] and int(core["command"][3]) > 1
    env = core["environment"]
    assert env["MIERUKA_DATABASE_URL"].startswith("postgresql+psycopg://mieruka:postgres_password-value@postgres:")
    assert env["MIERUKA_RATE_LIMIT_STORAGE"].startswith("redis://")  # one login throttle for every worker
    assert env["MIERUKA_METRICS_TOKEN"] == "mieruka_metrics_token-value"
    # the client address the core logs and throttles is the one the proxy saw
    assert env["FORWARDED_ALLOW_IPS"] == caddy["networks"]["edge"]["ipv4_address"]
    assert migrate["environment"] == env
    assert "mieruka db upgrade" in migrate["command"][-1] and "mieruka clickhouse upgrade" in migrate["command"][-1]
    assert core["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "/readyz" in " ".join(core["healthcheck"]["test"])
    assert caddy["depends_on"] == {"core": {"condition": "service_healthy"}}
    assert {p["target"] for p in caddy["ports"]} == {443, 80} and "ports" not in core
    for name, service in compose["services"].items():
        assert name == "migrate" or service.get("healthcheck"), name


def test_caddy_validates_both_configurations(tmp_path):
    caddy = tool("caddy")
    key, cert = tmp_path / "tls.key", tmp_path / "tls.crt"
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=mieruka.test"],
                   check=True, capture_output=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MIERUKA_SITE_ADDRESS": "mieruka.test",
           "TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)}

    def validate(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([caddy, "validate", "--adapter", "caddyfile", "--config", str(path)],
                              capture_output=True, text=True, env=env, timeout=60)

    for name in ("Caddyfile", "clickhouse.Caddyfile"):
        done = validate(DEPLOY / "caddy" / name)
        assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr
    public = (DEPLOY / "caddy" / "Caddyfile").read_text()
    assert "respond /metrics 404" in public  # Prometheus reads the workers directly, with the token
    broken = tmp_path / "broken.Caddyfile"  # the check can fail
    broken.write_text(public.replace("lb_policy least_conn", "lb_policy fewest"))
    assert validate(broken).returncode != 0


def test_the_runbook_names_only_commands_and_options_that_exist(compose):
    text = (DEPLOY / "RUNBOOK.md").read_text().replace("\\\n", " ")
    code = re.findall(r"```sh\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
    code += [" ".join(compose["services"]["migrate"]["command"]), " ".join(compose["services"]["core"]["command"])]
    programs = {"mieruka": typer.main.get_command(cli.app), "mieruka-sensor": typer.main.get_command(sensor_cli.app)}
    checked = 0
    for program, args in re.findall(r"(?<![\w-])(mieruka(?:-sensor)?) ([a-z][^\n&#|]*)", "\n".join(code)):
        command, words = programs[program], args.split()
        while words and hasattr(command, "commands") and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        assert not hasattr(command, "commands"), f"{program} {args}: no such command"
        known = {o for param in command.params for o in param.opts}
        assert {w.split("=")[0] for w in words if w.startswith("--")} <= known, f"{program} {args}"
        checked += 1
    assert checked >= 8
