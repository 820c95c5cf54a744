"""A team tracking server: a real PostgreSQL cluster and a real ``mlflow server`` with basic auth, used by ``alsstrat``.

PostgreSQL is Debian's (``make test`` installs it when running as root and it is missing); the cluster is created
with initdb and started with pg_ctl as an unprivileged user (``postgres`` when the tests run as root), listening on
127.0.0.1 only. The MLflow server stores runs and the registry in PostgreSQL, artifacts in its own folder
(``--artifacts-destination``) and users in its basic-auth database; ``alsstrat`` reaches it as a non-admin user
created through the auth API: train -> promote -> score -> serve (one worker, a real HTTP answer) -> runs compare
-> runs history, each a real process.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from tests.servers import GOOD, TINY_CONFIG, free_port, running, stop, wait_ready

ALSSTRAT = Path(sys.executable).with_name("alsstrat")
ADMIN_PASSWORD = "admin-pw-for-tests-0123"
USER, PASSWORD = "trainer", "trainer-pw-for-tests-0123"
TOKEN = "team-server-token-0123456789"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1 with a database and owner for MLflow; its SQLAlchemy URI."""
    import psycopg

    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL server binaries not found (make test installs Debian's postgresql as root)")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    # Not under pytest's tmp_path: its folders are private to the test user, and the server runs as another.
    root = Path(tempfile.mkdtemp(prefix="alsstrat-pg-"))
    root.chmod(0o755)
    (root / "sock").mkdir()
    if os.geteuid() == 0:
        for path in (root, root / "sock"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    data, log = root / "data", root / "postgres.log"
    subprocess.run(_as_unprivileged([str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                     "--no-sync"]), check=True, capture_output=True, timeout=120)
    subprocess.run(_as_unprivileged([str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                     "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {root / 'sock'}", "start"]),
                   check=True, capture_output=True, timeout=120)
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE USER mlflow WITH PASSWORD 'mlflow-pw'")
            conn.execute("CREATE DATABASE mlflow OWNER mlflow")
        yield f"postgresql://mlflow:mlflow-pw@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(_as_unprivileged([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``mlflow server`` on PostgreSQL with an artifact store and basic auth; a non-admin user for alsstrat."""
    work = tmp_path_factory.mktemp("team-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The shipped defaults, plus a credential cache: without it every request runs a PBKDF2 check (seconds per
    # training run on two busy cores); the cache is what docs/team-server.md suggests for request-heavy use.
    ini = work / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = READ\n"
                   f"database_uri = sqlite:///{work / 'basic_auth.db'}\nadmin_username = admin\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   "auth_cache_ttl_seconds = 300\n")
    env = {**os.environ, "MLFLOW_FLASK_SERVER_SECRET_KEY": "secret-for-tests-0123456789",
           "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD, "MLFLOW_AUTH_CONFIG_PATH": str(ini)}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres,
                             "--artifacts-destination", str(work / "artifacts"), "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--app-name", "basic-auth"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (work / "server.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, (work / "server.log").read_text()
            time.sleep(0.5)
        created = httpx.post(f"{url}/api/2.0/mlflow/users/create", auth=("admin", ADMIN_PASSWORD),
                             json={"username": USER, "password": PASSWORD}, timeout=30)
        assert created.status_code == 200, created.text
        yield {"url": url, "work": work, "postgres": postgres}
    finally:
        stop(proc)
        log.close()


def _env(server: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.update({"MLFLOW_TRACKING_URI": server["url"], "ALSSTRAT_HOME": str(server["work"] / "home"),
                "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": PASSWORD})
    return env


def _run(server: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ALSSTRAT), *args], env=_env(server), capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.mlflow
@pytest.mark.http
def test_train_promote_score_through_a_postgres_mlflow_server(mlflow_server: dict[str, Any]) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    work = mlflow_server["work"]
    config = work / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))

    search = f"{mlflow_server['url']}/api/2.0/mlflow/experiments/search?max_results=1"
    assert httpx.get(search, timeout=30).status_code == 401
    assert httpx.get(search, auth=(USER, PASSWORD), timeout=30).status_code == 200

    trained = _run(mlflow_server, "train", "--config", str(config), "--json")
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)  # stdout is JSON only: MLflow's "View run" lines went to stderr
    assert "View run" in trained.stderr
    assert "View run" not in trained.stdout
    version = str(result["model_version"])

    promoted = _run(mlflow_server, "promote", version, "--approver", "Dr Ada", "--reason", "first team model")
    assert promoted.returncode == 0, promoted.stderr
    assert f"version {version} is now champion" in promoted.stdout

    candidates, scores = work / "candidates.csv", work / "scores.csv"
    pd.DataFrame([GOOD]).to_csv(candidates, index=False)
    scored = _run(mlflow_server, "score", "--input", str(candidates), "--out", str(scores))
    assert scored.returncode == 0, scored.stderr
    assert f"version {version}" in scored.stdout
    assert pd.read_csv(scores)["error_field"].isna().all()

    # serve: one worker loads the champion from the team server and answers over real HTTP.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve_env = {**_env(mlflow_server), "ALSSTRAT_API_TOKENS": TOKEN,
                 "ALSSTRAT_AUDIT_LOG": str(work / "audit.jsonl")}
    with running([str(ALSSTRAT), "serve", "--port", str(port), "--workers", "1"], serve_env,
                 work / "serve.log") as server:
        wait_ready(server, url)
        answer = httpx.post(f"{url}/score", json={"candidate": GOOD}, headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"]["version"] == version
    assert "with 1 worker" in (work / "serve.log").read_text()

    # runs compare: the run against itself reads both from the server and finds no difference.
    compared = _run(mlflow_server, "runs", "compare", result["run_id"], result["run_id"], "--json",
                    "--n-bootstrap", "0")
    assert compared.returncode == 0, compared.stderr
    report = json.loads(compared.stdout[compared.stdout.index("{"):])
    assert report["runs"]["a"]["run_id"] == report["runs"]["b"]["run_id"] == result["run_id"]
    assert report["data"]["hash_same"]

    history = _run(mlflow_server, "runs", "history")
    assert history.returncode == 0, history.stderr
    assert "history chain: intact (1 records" in history.stdout
    assert f"champion als-stratifier: alias v{version}, history v{version}: as recorded" in history.stdout

    # The registry and the history live in PostgreSQL; the artifacts in the server's artifact store.
    url = make_url(mlflow_server["postgres"])
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database) as conn:
        aliases = conn.execute("SELECT alias, version FROM registered_model_aliases").fetchall()
        assert aliases == [("champion", int(version))]
        n_params = conn.execute("SELECT count(*) FROM params WHERE key = 'approver' AND value = 'Dr Ada'").fetchone()
        assert n_params == (1,)
    assert list((work / "artifacts").rglob("MLmodel")), "the model's files are in the server's artifact store"
