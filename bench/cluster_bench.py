"""Issue 10 (section A): the catalog served by owners on the embedded default (a persistent local Ray head
per root), measured side by side in one run::

    .venv/bin/python -m bench.cluster_bench [--files 4000] [--entries 10000000] [--only-owners]

1. Reads without Ray: wall time of whole ``haybale catalog get|cat|ls|stats`` commands (new processes,
   Python start-up included) while the head runs; median of 5 each. Target ≤ 1 s.
2. Job start-up: a files job on a root with no head (the command starts it) versus the same job on the
   running head, right after (``warm``) and once the head has warmed up between commands (``warmed``:
   warm drivers and workers started): seconds from the command's start to its first completion marker.
   Target ≤ 2 s warm.
3. Two files jobs at once on one root versus one job given both inputs (new roots, head warm), in
   ``--rounds`` rounds of new inputs, alternating which runs first; ratio of the medians. Target: ≤ 1.2×
   one job. ``--only-jobs`` runs only this part.
4. Registration through the owners: 2 worker actors (one CPU each) hold sealed volumes of entries and
   register them as a files job's split tasks do (``ingest.packing.register_on_worker``: prepared on
   the worker, one batch per owner, SST ingest); entries/s from the first call to the last owner's
   acknowledgement (``register_seconds``), and ``whole_seconds`` from connecting to Ray through
   making the entries to the end. Target ≥ 1M entries/s at 10^7 (``--entries 10000000``). The workers'
   compiled preparation passes (:mod:`catalog.web_listing_kernel`) are compiled into numba's disk
   cache first, in a process of its own (loading them is still in the timed part).
   Beside it, the worker's share alone on the same 200,000 entries in one process: per-key
   reference ``prepare_bulk`` against the columnar ``prepare_bulk_columns`` (ratio of medians of 3).
5. Batched lookups through the client (the owner actors, packed ids) of every 10th key (≤ 10^6),
   median of 5: keys/s, right after the registration (compactions still running) and again on the
   catalog at rest (compactions done; ``at_rest``), once the owners settled by themselves (each
   compacts its index after ``HAYBALE_OWNER_SETTLE_SECONDS`` without writes; ``settled``), and after
   every owner compacted its index into
   one sorted run (``OwnedCatalog.compact_index``; ``compacted``: owners read by seeks). Target ≥ 1M keys/s at 10^7. CPU per entry (per
   key) of workers, owners (RocksDB's background threads included) and the whole machine is
   recorded beside each rate, so a rate measured beside other users can be read as a CPU budget.

Writes bench/results/cluster_bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# this process connects to local heads, which use token authentication; Ray reads this when imported
os.environ.setdefault("RAY_AUTH_MODE", "token")
RESULTS = Path(__file__).resolve().parent / "results"
SETTLE_WITHOUT_SHAPE = 60.0  # seconds to wait for compactions where owners cannot report them
REPO = Path(__file__).resolve().parents[1]


def _cli(root: Path, *argv: str, env: dict | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "haybale", *argv, "--root", str(root)], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(root: Path, *argv: str) -> str:
    proc = _cli(root, *argv)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"haybale {' '.join(argv)} failed: {err[-2000:]}")
    return out


def _time_to_first_marker(root: Path, src: Path, run_id: str) -> tuple[float, float]:
    """(seconds to the first completion marker, seconds to the end) of a files job."""
    done = root / "runs" / run_id / "done"
    t0 = time.perf_counter()
    proc = _cli(root, "ingest", "files", str(src), "--run-id", run_id, "--split-files", "200", "--quiet", "--json")
    first = None
    while proc.poll() is None:
        if first is None and done.is_dir() and any(done.iterdir()):
            first = time.perf_counter() - t0
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(err[-2000:])
    total = time.perf_counter() - t0
    return (first if first is not None else total), total


def reads(root: Path, key: str) -> dict[str, float]:
    out = {}
    for name, argv in {"get": ["catalog", "get", key], "cat": ["catalog", "cat", key],
                       "ls": ["catalog", "ls", "--limit", "20"], "stats": ["catalog", "stats"]}.items():
        times = []
        for _ in range(5):
            t = time.perf_counter()
            _run(root, *argv)
            times.append(time.perf_counter() - t)
        out[name] = round(statistics.median(times), 3)
    return out


def _entry_maker():  # a Ray actor class, made when Ray is imported
    import ray

    @ray.remote(num_cpus=1)
    class EntryMaker:
        """One ingest worker: makes its entries as sealed volumes (what a split's packing returns),
        then registers them exactly as a files job's split task does (:func:`ingest.packing.register_on_worker`)."""

        def make(self, lo: int, hi: int, per_volume: int) -> int:
            from catalog.volume import SealedVolume

            self.volumes = []
            for at in range(lo, hi, per_volume):
                top = min(hi, at + per_volume)
                records = [(f"https://host{i % 9973}.example/p/{i}", (i - at) * 300, 300, i) for i in range(at, top)]
                self.volumes.append(SealedVolume(f"file:///bench/vol-{at:09d}.warc.gz", (top - at) * 300, records,
                                                 f"file:///bench/vol-{at:09d}.cdxj"))
            return hi - lo

        def register(self, owners: tuple[str, str, int], profile: str | None = None) -> tuple[int, float, float]:
            from ingest.packing import register_on_worker

            profiler = None
            if profile:  # --profile: this worker's calls under cProfile (CPU time), stats written there
                import cProfile

                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
            t0, added = time.time(), 0
            for volume in self.volumes:  # one call per split of one volume
                added += register_on_worker(owners, [volume])[0]
            t1 = time.time()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            return added, t0, t1

        def cpu_seconds(self) -> float:
            """CPU time of this worker process so far (every thread)."""
            return time.process_time()

    return EntryMaker


def _owner_pids(store) -> list[int]:
    """Process ids of the owner actors (they run on this machine in the bench)."""
    import ray

    return [int(p["pid"]) for p in ray.get([e.handle.where.remote() for e in store.catalog._endpoints])]


def _compacted_lookups(store, ids, owner_pids: list[int]) -> dict | None:
    """The lookups again after every owner compacted its index into one sorted run
    (``OwnedCatalog.compact_index``; owners then read by seeks); None for owners without it."""
    import ray

    t = time.perf_counter()
    try:
        shapes = store.catalog.compact_index()
    except (AttributeError, ray.exceptions.RayTaskError):
        return None
    compact_seconds = time.perf_counter() - t
    cpu0 = _cpu_of(owner_pids)
    times = _timed_lookups(store, ids)
    cpu1 = _cpu_of(owner_pids)
    return {"compact_seconds": round(compact_seconds, 2), "read_shape": shapes,
            "lookup_seconds": [round(x, 3) for x in times],
            "lookup_keys_per_s": round(len(ids) / statistics.median(times)),
            "owners_cpu_us_per_key": round(1e6 * (sum(cpu1) - sum(cpu0)) / (5 * len(ids)), 3)}


def _settled_lookups(store, ids, owner_pids: list[int]) -> dict | None:
    """The lookups again once every owner settled by itself (compacted its index into one sorted run
    after ``HAYBALE_OWNER_SETTLE_SECONDS`` without writes, :mod:`catalog.owner_settle`), as a user's
    lookups meet the catalog a little after a load with nobody running ``catalog compact``; None if
    the owners did not settle within that time plus 120 s (settling off, or owners without it)."""
    from catalog.owner_settle import settle_seconds

    limit = settle_seconds()
    if limit <= 0:
        return None
    t, cpu0 = time.perf_counter(), _cpu_of(owner_pids)
    while not all(s["seeks"] for s in (_read_shapes(store) or [{"seeks": False}])):
        if time.perf_counter() - t > limit + 120:
            return None
        time.sleep(0.5)
    waited, settle_cpu = time.perf_counter() - t, sum(_cpu_of(owner_pids)) - sum(cpu0)
    shapes = _read_shapes(store)
    cpu1 = _cpu_of(owner_pids)
    times = _timed_lookups(store, ids)
    cpu2 = _cpu_of(owner_pids)
    return {"waited_seconds": round(waited, 1), "owners_settle_cpu_seconds": round(settle_cpu, 2),
            "read_shape": shapes, "lookup_seconds": [round(x, 3) for x in times],
            "lookup_keys_per_s": round(len(ids) / statistics.median(times)),
            "owners_cpu_us_per_key": round(1e6 * (sum(cpu2) - sum(cpu1)) / (len(ids) * len(times)), 3)}


def _read_shapes(store) -> list[dict] | None:
    """Each owner's location index as reads meet it (level-0 files, levels, compactions, seeks); None
    from owners without ``read_shape`` (main before issue 10's lookup work, run side by side)."""
    import ray

    try:
        return ray.get([e.handle.call.remote("read_shape") for e in store.catalog._endpoints])
    except ray.exceptions.RayTaskError:
        return None


def _timed_lookups(store: Any, ids: Any, rounds: int = 5) -> list[float]:
    """Seconds of each of ``rounds`` batched lookups of ``ids`` through the client (all must be found)."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        found, _ = store.catalog.lookup_ids(ids)
        times.append(time.perf_counter() - t)
        assert found.all()
    return times


def _cpu_of(pids: list[int]) -> list[float]:
    """CPU seconds (user + system, every thread) of each process."""
    import psutil

    return [sum(psutil.Process(p).cpu_times()[:2]) for p in pids]


def _machine_busy() -> float:
    """CPU seconds every process on the machine spent so far (all cores): the load beside the bench."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.system + t.nice + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def preparation_side_by_side(n: int = 200_000) -> dict[str, float]:
    """The worker's share of a registration on the same ``n`` entries, in this process: the per-key
    reference (:func:`catalog.bulk.prepare_bulk`) against the columnar one the workers use
    (:func:`catalog.bulk_prepare.prepare_bulk_columns`), alternated 3 times; medians and their ratio."""
    import numpy as np

    from catalog.bulk import prepare_bulk
    from catalog.bulk_prepare import prepare_bulk_columns
    from catalog.catalog_meta import even_owners
    from catalog.location import pack_many

    keys = [f"https://host{i % 9973}.example/p/{i}" for i in range(n)]
    i = np.arange(n, dtype=np.uint64)
    packed = pack_many(np.ones(n, np.uint32), i * 300, np.full(n, 300, np.uint32), i)
    slot_owner = np.zeros(4096, dtype=np.int64)
    for owner, ranges in enumerate(even_owners(4)):
        for lo, hi in ranges:
            slot_owner[lo:hi] = owner
    per_key, columns = [], []
    for _ in range(3):
        t = time.perf_counter()
        a = prepare_bulk(keys, packed, slot_owner.tolist())
        per_key.append(time.perf_counter() - t)
        t = time.perf_counter()
        b = prepare_bulk_columns(keys, packed, slot_owner)
        columns.append(time.perf_counter() - t)
        assert all(a.shards[o].ids == b.shards[o].ids and a.shards[o].listing_blob == b.shards[o].listing_blob for o in a.shards)
    old, new = statistics.median(per_key), statistics.median(columns)
    return {"entries": n, "per_key_entries_per_s": round(n / old), "columns_entries_per_s": round(n / new),
            "ratio": round(old / new, 2)}


def registration_and_lookups(work: Path, entries: int, per_volume: int = 500_000,
                             profile: str | None = None, lookups: bool = True) -> dict[str, float]:
    """Through the owner actors on a local head of their own root: 2 worker actors (one CPU each) make
    ``entries`` entries, then register them with :func:`ingest.packing.register_on_worker` (one call
    per volume of ``per_volume`` records); then batched lookups of every 10th key (at most 10^6).
    Without ``lookups``: the registration, then the owners' CPU until their compactions are done."""
    import numpy as np
    import ray

    from catalog.catalog_meta import load_meta
    from catalog.keys import canonical_key, key_id
    from catalog.layout import RootLayout
    from catalog.owner_actor import stop_owners
    from catalog.store import Store
    from ingest.cluster_connection import RootConnection
    from ingest.local_head import stop_head

    root = work / "bulk"
    root.mkdir()
    # the workers' compiled preparation passes into numba's disk cache, in a process of its own: each
    # worker still imports and loads them in the timed part, but no run pays the compilation a first
    # run on a machine pays once (~3 s of CPU per worker starting at once)
    subprocess.run([sys.executable, "-c", "from catalog.web_listing_kernel import warm_cache; warm_cache()"],
                   cwd=REPO, check=True)
    connection = RootConnection(RootLayout.of(str(root)))
    whole = time.perf_counter()
    connection()
    try:
        store = Store(str(root), cluster=True)
        store.catalog.ensure()
        owners = (store.root, str(store.layout.catalog_dir), store.catalog.meta.num_owners)
        maker = _entry_maker()
        workers = [maker.remote(), maker.remote()]
        half = entries // 2
        made = ray.get([workers[0].make.remote(0, half, per_volume), workers[1].make.remote(half, entries, per_volume)])
        assert sum(made) == entries, made
        owner_pids = _owner_pids(store)
        cpu0 = (ray.get([w.cpu_seconds.remote() for w in workers]), _cpu_of(owner_pids), _machine_busy(), time.process_time())
        t = time.perf_counter()
        parts = ray.get([w.register.remote(owners, f"{profile}.worker{n}" if profile else None)
                         for n, w in enumerate(workers)])
        reg_seconds = time.perf_counter() - t
        cpu1 = (ray.get([w.cpu_seconds.remote() for w in workers]), _cpu_of(owner_pids), _machine_busy(), time.process_time())
        load_during = os.getloadavg()[0]
        whole_seconds = time.perf_counter() - whole
        assert sum(p[0] for p in parts) == entries, parts
        records = int(store.catalog.stats()["records"])
        assert records == entries, records
        for w in workers:
            ray.kill(w)
        registration = {
            "entries": entries, "per_volume": per_volume,
            "register_seconds": round(reg_seconds, 2), "register_entries_per_s": round(entries / reg_seconds),
            "whole_seconds": round(whole_seconds, 2),
            # CPU per entry of registration, measured per process (owners include RocksDB's
            # background compactions); "machine" counts every process here, other users included
            "register_cpu_us_per_entry": {
                "workers": round(1e6 * (sum(cpu1[0]) - sum(cpu0[0])) / entries, 3),
                "owners": round(1e6 * (sum(cpu1[1]) - sum(cpu0[1])) / entries, 3),
                "driver": round(1e6 * (cpu1[3] - cpu0[3]) / entries, 3),
                "machine": round(1e6 * (cpu1[2] - cpu0[2]) / entries, 3)},
            "load_average_after_register": round(load_during, 2)}
        if not lookups:  # --register-only: what the owners still spend on compactions after the window
            from catalog.owner_load_mode import IDLE_SECONDS

            settle_t, settle_cpu0 = time.perf_counter(), _cpu_of(owner_pids)
            time.sleep(IDLE_SECONDS + 2)  # owners leave load mode, then merge what gathered
            while (shapes := _read_shapes(store)) and any(s["compacting"] for s in shapes) \
                    and time.perf_counter() - settle_t < 300:
                time.sleep(1.0)
            registration["after_register"] = {
                "settle_seconds": round(time.perf_counter() - settle_t, 1),
                "owners_cpu_us_per_entry": round(1e6 * (sum(_cpu_of(owner_pids)) - sum(settle_cpu0)) / entries, 3),
                "read_shape": _read_shapes(store)}
            meta = load_meta(str(root))
            store.close()
            stop_owners(meta.catalog_id, meta.num_owners)
            return registration
        step = max(1, entries // 1_000_000)
        sample = [f"https://host{i % 9973}.example/p/{i}" for i in range(0, entries, step)]
        ids = np.frombuffer(b"".join(key_id(canonical_key(k)) for k in sample), np.uint8).reshape(-1, 16)
        store.catalog.lookup_ids(ids[:1000])  # warm the routes
        shape_after_register = _read_shapes(store)
        lookup_cpu0 = (_cpu_of(owner_pids), time.process_time(), _machine_busy())
        times = _timed_lookups(store, ids)
        lookup_cpu1 = (_cpu_of(owner_pids), time.process_time(), _machine_busy())
        n_looked = 5 * len(ids)
        # the same lookups on the catalog at rest (compactions done), as later jobs read it
        settle_t, settle_cpu0 = time.perf_counter(), _cpu_of(owner_pids)
        if shape_after_register is None:
            time.sleep(SETTLE_WITHOUT_SHAPE)  # owners that cannot tell: a fixed wait
        while (shapes := _read_shapes(store)) and any(s["compacting"] for s in shapes) \
                and time.perf_counter() - settle_t < 300:
            time.sleep(1.0)
        settle_seconds = time.perf_counter() - settle_t
        # compactions the registration left behind, finishing after it (the lookups above ran beside them)
        settle_cpu = sum(_cpu_of(owner_pids)) - sum(settle_cpu0)
        shape_at_rest = _read_shapes(store)
        rest_cpu0 = _cpu_of(owner_pids)
        rest_times = _timed_lookups(store, ids)
        rest_cpu1 = _cpu_of(owner_pids)
        settled = _settled_lookups(store, ids, owner_pids)
        compacted = _compacted_lookups(store, ids, owner_pids)
        meta = load_meta(str(root))
        store.close()
        stop_owners(meta.catalog_id, meta.num_owners)
        return {**registration,
                "lookup_cpu_us_per_key": {
                    "owners": round(1e6 * (sum(lookup_cpu1[0]) - sum(lookup_cpu0[0])) / n_looked, 3),
                    "client": round(1e6 * (lookup_cpu1[1] - lookup_cpu0[1]) / n_looked, 3),
                    "machine": round(1e6 * (lookup_cpu1[2] - lookup_cpu0[2]) / n_looked, 3)},
                "lookup_keys": len(ids), "lookup_seconds": [round(x, 3) for x in times],
                "lookup_keys_per_s": round(len(ids) / statistics.median(times)),
                "lookup_read_shape": shape_after_register,
                "at_rest": {"settle_seconds": round(settle_seconds, 1), "read_shape": shape_at_rest,
                            "owners_settle_cpu_us_per_entry": round(1e6 * settle_cpu / entries, 3),
                            "lookup_seconds": [round(x, 3) for x in rest_times],
                            "lookup_keys_per_s": round(len(ids) / statistics.median(rest_times)),
                            "owners_cpu_us_per_key": round(1e6 * (sum(rest_cpu1) - sum(rest_cpu0)) / n_looked, 3)},
                "settled": settled,
                "compacted": compacted,
                "preparation_side_by_side": preparation_side_by_side()}
    finally:
        connection.close()
        stop_head(root)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=4000)
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--per-volume", type=int, default=500_000, help="records per registration call (part 4)")
    ap.add_argument("--only-owners", action="store_true", help="only parts 4 and 5")
    ap.add_argument("--only-jobs", action="store_true", help="only part 3")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of part 3 (median)")
    ap.add_argument("--register-only", action="store_true",
                    help="part 4 only (implies --only-owners): the registration, then the owners' compaction CPU after it")
    ap.add_argument("--profile", help="write each registering worker's cProfile stats (CPU time) to PROFILE.workerN")
    args = ap.parse_args(argv)
    if args.only_owners or args.register_only:
        flag = "--register-only" if args.register_only else "--only-owners"
        with tempfile.TemporaryDirectory(prefix="hb-cluster-bench-") as tmp:
            result = {"command": f"python -m bench.cluster_bench {flag} --entries {args.entries} --per-volume {args.per_volume}",
                      "owners": registration_and_lookups(Path(tmp), args.entries, args.per_volume, args.profile,
                                                         lookups=not args.register_only)}
        print(json.dumps(result, indent=2))
        if not args.register_only:  # a quick measurement while iterating: the recorded results stay
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "cluster_bench_owners.json").write_text(json.dumps(result, indent=2))
        return 0
    from bench.concurrent_jobs import concurrent_jobs, wait_until_warm
    from haybale.demo import generate_files
    from ingest.local_head import stop_head

    if args.only_jobs:
        with tempfile.TemporaryDirectory(prefix="hb-cluster-bench-") as tmp:
            roots = [Path(tmp) / "one", Path(tmp) / "two"]
            try:
                result = {"command": f"python -m bench.cluster_bench --only-jobs --files {args.files} --rounds {args.rounds}",
                          "concurrent_jobs": concurrent_jobs(Path(tmp), *roots, args.files, args.rounds)}
            finally:
                for root in roots:
                    stop_head(root)
        print(json.dumps(result, indent=2))
        return 0

    result: dict[str, object] = {"command": f"python -m bench.cluster_bench --files {args.files} --entries {args.entries} --per-volume {args.per_volume}"}
    with tempfile.TemporaryDirectory(prefix="hb-cluster-bench-") as tmp:
        work = Path(tmp)
        inputs = [work / "in-a", work / "in-b"]
        for n, d in enumerate(inputs):
            generate_files(d, args.files // 2, seed=n)
        roots = {name: work / name for name in ("cold", "one", "two")}
        try:
            # 2. start-up: cold (the command starts the head) then warm (the head runs)
            cold_first, cold_total = _time_to_first_marker(roots["cold"], inputs[0], "cold")
            warm_first, warm_total = _time_to_first_marker(roots["cold"], inputs[1], "warm")
            # the same once the head has warmed up between commands (warm drivers and workers started)
            generate_files(work / "in-c", args.files // 2, seed=2)
            wait_until_warm(roots["cold"])
            warmed_first, warmed_total = _time_to_first_marker(roots["cold"], work / "in-c", "warmed")
            result["startup"] = {"cold_first_marker_s": round(cold_first, 2), "cold_total_s": round(cold_total, 2),
                                 "warm_first_marker_s": round(warm_first, 2), "warm_total_s": round(warm_total, 2),
                                 "warmed_first_marker_s": round(warmed_first, 2),
                                 "warmed_total_s": round(warmed_total, 2)}
            # 1. reads without Ray while the head runs
            key = f"file://{sorted(inputs[0].rglob('*.txt'))[7]}"
            result["reads_median_s"] = reads(roots["cold"], key)
            # 3. two jobs at once vs one job given both inputs (each on the warm head of its root)
            result["concurrent_jobs"] = concurrent_jobs(work, roots["one"], roots["two"], args.files, args.rounds)
        finally:
            for root in roots.values():
                stop_head(root)
        (RESULTS / "cluster_bench.partial.json").write_text(json.dumps(result, indent=2))
        # 4 + 5. registration and lookups through the owners
        result["owners"] = registration_and_lookups(work, args.entries, args.per_volume)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster_bench.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "cluster_bench.partial.json").unlink(missing_ok=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
