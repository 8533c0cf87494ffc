"""deploy/: every manifest parses, names the image deploy/Dockerfile builds, runs only commands that
exist (each one's ``--help`` runs in this environment), and declares what the catalog needs (the
``catalog_disk`` resource, its disk, the token from a Secret). No cluster here: the manifests are read
as data; the image is not built (no container daemon in CI), its Dockerfile is checked as text."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from haybale.version import __version__

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
IMAGE = f"haybale:{__version__}"
MANIFESTS = sorted((DEPLOY / "kuberay").glob("*.yaml"))


def documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if doc["kind"] == kind]


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every pod template in a manifest."""
    spec = doc.get("spec", {})
    if doc["kind"] == "RayCluster":
        yield "head", spec["headGroupSpec"]["template"]["spec"]
        for group in spec["workerGroupSpecs"]:
            yield group["groupName"], group["template"]["spec"]
    elif doc["kind"] == "RayJob":
        yield "submitter", spec["submitterPodTemplate"]["spec"]
    elif doc["kind"] == "Deployment":
        yield doc["metadata"]["name"], spec["template"]["spec"]


def haybale_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every haybale command the deployment runs."""
    found: list[tuple[str, list[str]]] = []
    for path, doc in documents():
        for name, pod in pod_specs(doc):
            for c in pod["containers"]:
                if c.get("command"):
                    found.append((f"{path.name}:{name}/{c['name']}", list(c["command"]) + list(c.get("args", []))))
        if doc["kind"] == "RayJob":
            found.append((f"{path.name}:entrypoint", shlex.split(doc["spec"]["entrypoint"])))
    return found


def test_every_manifest_parses_and_is_a_known_kind() -> None:
    assert {p.name for p in MANIFESTS} == {"raycluster.yaml", "rayjob-ingest.yaml", "rayjob-dedup.yaml", "serve.yaml"}
    kinds = sorted(doc["kind"] for _, doc in documents())
    assert kinds == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "RayCluster", "RayJob", "RayJob",
                     "Service", "Service"]
    for _, doc in documents():
        assert doc["apiVersion"] in ("v1", "apps/v1", "ray.io/v1") and doc["metadata"]
    yaml.safe_load((DEPLOY / "cluster.yaml").read_text())


def test_every_pod_runs_the_image_the_dockerfile_builds_as_non_root() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(rf"-t {re.escape(IMAGE)} ", dockerfile), "the Dockerfile's build command names the image"
    pods = [(name, pod) for _, doc in documents() for name, pod in pod_specs(doc)]
    assert len(pods) == 6
    for name, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for c in pod["containers"]:
            assert c["image"] == IMAGE, (name, c["name"])


def test_the_dockerfile_installs_runtime_dependencies_only_and_drops_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    body = "\n".join(lines)
    assert f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim" in body
    assert "pip install -r /opt/haybale/requirements.lock" in body and "requirements-dev" not in body
    assert "pip install --no-deps" in body
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for package in ("catalog", "ingest", "dedup", "haybale"):
        assert f"!{package}/**" in ignore


def test_every_command_exists_and_its_help_runs() -> None:
    commands = haybale_commands()
    assert len(commands) == 4
    for where, argv in commands:
        if argv[:3] == ["python", "-m", "haybale"]:
            argv = argv[3:]
        else:
            assert argv[0] == "haybale", where
            argv = argv[1:]
        words = []
        for word in argv:  # the subcommand path: the words before the first option
            if word.startswith("-"):
                break
            words.append(word)
        out = subprocess.run([sys.executable, "-m", "haybale", *words, "--help"], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, (where, out.stderr)
        usage = out.stdout
        for word in argv:  # every option the manifest passes is one the command has
            if word.startswith("--"):
                assert word.split("=")[0] in usage, (where, word)


def test_the_catalog_disk_is_declared_where_the_catalog_is_written() -> None:
    (cluster,) = by_kind("RayCluster")
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    disk = groups["catalog-disk"]
    declared = json.loads(json.loads(disk["rayStartParams"]["resources"]))
    assert declared["catalog_disk"] >= 1
    assert "resources" not in groups["cpu"]["rayStartParams"]
    mounts = {m["mountPath"] for c in disk["template"]["spec"]["containers"] for m in c.get("volumeMounts", [])}
    claims = {v["persistentVolumeClaim"]["claimName"] for v in disk["template"]["spec"]["volumes"]}
    assert claims == {pvc["metadata"]["name"] for pvc in by_kind("PersistentVolumeClaim")}
    (settings,) = by_kind("ConfigMap")
    assert any(settings["data"]["HAYBALE_CATALOG_DIR"].startswith(m + "/") for m in mounts)
    for job in by_kind("RayJob"):
        assert json.loads(job["spec"]["entrypointResources"])["catalog_disk"] > 0
        argv = shlex.split(job["spec"]["entrypoint"])
        catalog_dir = argv[argv.index("--catalog-dir") + 1]
        assert any(catalog_dir.startswith(m + "/") for m in mounts), catalog_dir
        assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    launcher = yaml.safe_load((DEPLOY / "cluster.yaml").read_text())
    head = launcher["available_node_types"][launcher["head_node_type"]]
    assert head["resources"]["catalog_disk"] >= 1
    assert any("requirements.lock" in c for c in launcher["setup_commands"])
    # every node runs Ray with token authentication and the one token the submitting machine has
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in launcher[key]
              if "ray start" in c]
    assert len(starts) == 2 and all(c.startswith("RAY_AUTH_MODE=token ray start") for c in starts)
    assert launcher["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_the_services_take_the_token_from_a_secret_and_probe_healthz() -> None:
    serving = [c for _, doc in documents() for _, pod in pod_specs(doc) for c in pod["containers"]
               if c.get("command", [None])[:2] == ["haybale", "serve"]]
    assert len(serving) == 2
    for c in serving:
        env = {e["name"]: e for e in c["env"]}
        assert env["HAYBALE_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "haybale-token", "key": "token"}
        assert "--no-auth" not in c["command"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    (deployment,) = by_kind("Deployment")
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    assert services["haybale-serve"]["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    upstream = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert upstream[upstream.index("--upstream") + 1] == "http://haybale-catalog:7480"
    assert services["haybale-catalog"]["spec"]["selector"]["ray.io/group"] == "catalog-disk"


@pytest.mark.parametrize("section", ["S3", "token", "Adding nodes", "first ingest", "query", "dedup"])
def test_the_operator_guide_covers(section: str) -> None:
    text = (DEPLOY / "README.md").read_text()
    assert section.lower() in text.lower()
