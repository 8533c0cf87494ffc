"""Ray's token for the local head (ingest.ray_token): created when the machine has none, never replaced,
and the user's own choice (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH) respected."""
from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from ingest.errors import IngestJobError
from ingest.ray_token import default_token_path, ensure_local_token, set_auth_mode, token_available


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home directory: a machine where Ray never ran."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    return tmp_path


def test_creates_rays_default_token_private_and_whole(home: Path) -> None:
    path = ensure_local_token()
    assert path == default_token_path() == home / ".ray" / "auth_token"
    token = path.read_text()
    assert len(token) == 64 and int(token, 16) >= 0  # 256 bits as hex, as Ray writes it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["auth_token"]  # no temporary file left behind


def test_an_existing_token_is_kept(home: Path) -> None:
    path = home / ".ray" / "auth_token"
    path.parent.mkdir()
    path.write_text("the-clusters-token\n")
    assert ensure_local_token() == path
    assert path.read_text() == "the-clusters-token\n"


def test_a_token_another_command_created_after_the_first_look_is_used(home: Path, monkeypatch) -> None:
    """The race CI met with 8 threads: one looked (no file), another created the token, the first then
    saw the file and called it empty. Here the first look misses the file deterministically."""
    import ingest.ray_token as ray_token

    path = home / ".ray" / "auth_token"
    path.parent.mkdir()
    path.write_text("made-by-the-other-command")
    real, looks = ray_token._has_token, []

    def first_look_misses(p: Path) -> bool:
        looks.append(p)
        return len(looks) > 1 and real(p)

    monkeypatch.setattr(ray_token, "_has_token", first_look_misses)
    assert ensure_local_token() == path and path.read_text() == "made-by-the-other-command"


def test_commands_starting_at_once_share_one_token(home: Path) -> None:
    results: list[Path | None] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_local_token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert len((home / ".ray" / "auth_token").read_text()) == 64
    assert len(list((home / ".ray").iterdir())) == 1


def test_a_token_in_the_environment_needs_no_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN", "abc")
    assert ensure_local_token() is None
    assert not (home / ".ray").exists()


def test_a_chosen_token_file_must_exist(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = home / "cluster-token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(chosen))
    with pytest.raises(IngestJobError, match="RAY_AUTH_TOKEN_PATH=.*cluster-token.*unset the variable"):
        ensure_local_token()
    assert not chosen.exists() and not (home / ".ray").exists()  # the user's choice: never created for them
    chosen.write_text("xyz")
    assert ensure_local_token() == chosen


def test_an_empty_default_token_file_is_named(home: Path) -> None:
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text("")
    with pytest.raises(IngestJobError, match=r"auth_token is empty: delete it"):
        ensure_local_token()


def test_an_unwritable_home_is_named(home: Path) -> None:
    (home / ".ray").write_text("not a directory")
    with pytest.raises(IngestJobError, match=r"could not create Ray's token file .*auth_token.*RAY_AUTH_TOKEN"):
        ensure_local_token()


@pytest.mark.parametrize("address, token, user_mode, expected", [
    (None, False, None, "token"),  # the local head: haybale starts it with tokens
    ("127.0.0.1:6379", True, None, "token"),  # a cluster, and this machine has Ray's token
    ("127.0.0.1:6379", False, None, None),  # a cluster, no token here: Ray's default, no authentication
    ("127.0.0.1:6379", False, "token", "token"),  # for a cluster, the user's choice wins
    ("127.0.0.1:6379", True, "disabled", "disabled"),
    (None, False, "disabled", "token"),  # the local head is haybale's, started with tokens
])
def test_the_auth_mode_asked_of_ray(home: Path, address: str | None, token: bool, user_mode: str | None,
                                    expected: str | None) -> None:
    if token:
        (home / ".ray").mkdir()
        (home / ".ray" / "auth_token").write_text("t" * 64)
    env = {"HOME": str(home)} if user_mode is None else {"HOME": str(home), "RAY_AUTH_MODE": user_mode}
    assert set_auth_mode(address, env) == expected
    assert env.get("RAY_AUTH_MODE") == expected


def test_a_token_in_a_chosen_file_or_the_environment_counts(home: Path) -> None:
    assert not token_available({})
    assert token_available({"RAY_AUTH_TOKEN": "abc"})
    chosen = home / "t"
    assert not token_available({"RAY_AUTH_TOKEN_PATH": str(chosen)})
    chosen.write_text("abc")
    assert token_available({"RAY_AUTH_TOKEN_PATH": str(chosen)})
    env = {"RAY_AUTH_TOKEN_PATH": str(chosen)}
    assert set_auth_mode("10.0.0.1:6379", env) == "token" and env["RAY_AUTH_MODE"] == "token"


@pytest.mark.parametrize("mode, expected", [
    (None, "a Ray cluster with token authentication needs its token here: copy it"),
    ("token", "if the cluster uses token authentication, the token this machine sends (RAY_AUTH_TOKEN, "
              "RAY_AUTH_TOKEN_PATH or"),
])
def test_a_cluster_that_does_not_answer_is_explained_with_tokens_in_mind(
        home: Path, monkeypatch: pytest.MonkeyPatch, mode: str | None, expected: str) -> None:
    from catalog.layout import RootLayout
    from ingest.cluster_connection import RootConnection

    if mode is None:
        monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    else:
        monkeypatch.setenv("RAY_AUTH_MODE", mode)
    connection = RootConnection(RootLayout.of(str(home / "root")), address="10.1.2.3:6379")
    message = str(connection._unreachable("10.1.2.3:6379", ConnectionError("Failed to connect")))
    assert message.startswith("could not connect to the Ray cluster at 10.1.2.3:6379 (--address / RAY_ADDRESS)")
    assert expected in message and str(home / ".ray" / "auth_token") in message


_IMPORTS_RAY_FIRST = """
import sys
import ray  # a script or notebook that imports Ray at its top, before it calls haybale
from haybale.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_program_that_imported_ray_first_joins_the_local_head(home: Path, tmp_path: Path) -> None:
    """Ray reads RAY_AUTH_MODE when it is first imported: a program that imported it before haybale set
    tokens for the root's local head kept no authentication and was refused by the head
    (InvalidAuthToken for a minute, then "the local Ray head ... did not answer", exit 1)."""
    import os
    import subprocess
    import sys

    from ingest.local_head import read_state, state_dir_of, stop_head

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("a")
    root = tmp_path / "root"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    env.update(HOME=str(home), HAYBALE_CLUSTER_IDLE_SECONDS="20")
    try:
        done = subprocess.run([sys.executable, "-c", _IMPORTS_RAY_FIRST, "--root", str(root), "--quiet", "ingest",
                               "files", str(src)], cwd=Path(__file__).resolve().parents[2], env=env,
                              capture_output=True, text=True, timeout=240)
    finally:
        if read_state(state_dir_of(root)) is not None:  # the test must not leave a head running
            stop_head(root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ingested 1 files"), done.stdout
