"""haybale against real clusters with and without Ray's token authentication, from a machine with no
Ray token (an empty HOME): a cluster without tokens is used as it is (haybale used to force tokens and
failed at connect), and a cluster with tokens turns the command away with a message saying how to give
it the token. Real `ray start` heads on loopback, stopped by pid."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local_cluster import LocalRayCluster

HAYBALE = str(Path(sys.executable).with_name("haybale"))


def _environment(home: Path, mode: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    env["HOME"] = str(home)
    if mode is not None:
        env["RAY_AUTH_MODE"] = mode
    return env


def _ingest(files: Path, root: Path, address: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAYBALE, "ingest", "files", str(files), "--root", str(root), "--address", address,
                           "--run-id", "auth", "--json", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def no_token_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def small_files(tmp_path: Path) -> Path:
    files = tmp_path / "in"
    files.mkdir()
    for i in range(12):
        (files / f"doc-{i:02d}.txt").write_text(f"document {i}\n" * (i + 1))
    return files


@pytest.mark.slow
def test_a_cluster_without_tokens_from_a_machine_without_one(tmp_path: Path, no_token_home: Path,
                                                              small_files: Path) -> None:
    with LocalRayCluster(num_cpus=2, auth_mode="disabled") as cluster:
        done = _ingest(small_files, tmp_path / "root", cluster.gcs_address, _environment(no_token_home, None))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["added"] == 12 and summary["files"] == 12
    assert not (no_token_home / ".ray").exists()  # nothing made up for a cluster that wants no token


@pytest.mark.slow
def test_a_cluster_with_tokens_from_a_machine_without_its_token(tmp_path: Path, no_token_home: Path,
                                                                small_files: Path) -> None:
    with LocalRayCluster(num_cpus=2) as cluster:  # tokens, this machine's ~/.ray/auth_token
        asked = _ingest(small_files, tmp_path / "root", cluster.gcs_address, _environment(no_token_home, "token"))
        # the refused driver retries the GCS once a second, 20 times by default (RAY_NUM_REDIS_GET_RETRIES,
        # ray._private.node): 3 reach the same refusal and message, without 17 s of waiting
        unasked = _ingest(small_files, tmp_path / "root", cluster.gcs_address,
                          {**_environment(no_token_home, None), "RAY_NUM_REDIS_GET_RETRIES": "3"})
    advice = f"copy it (`ray get-auth-token` on the cluster's head prints it) to {no_token_home}/.ray/auth_token"
    # RAY_AUTH_MODE=token and no token: Ray refuses at once; a bad setting, exit 2
    assert asked.returncode == 2, asked.stderr[-3000:]
    assert "Ray refused to connect: Token authentication is enabled but no authentication token was found" in asked.stderr
    assert advice in asked.stderr and "a bug" not in asked.stderr
    # no mode set: the cluster turns the unauthenticated driver away as if it were not there
    assert unasked.returncode == 1, unasked.stderr[-3000:]
    assert f"could not connect to the Ray cluster at {cluster.gcs_address}" in unasked.stderr
    assert advice in unasked.stderr
    assert not (tmp_path / "root").exists()  # a command that fails leaves nothing it created
