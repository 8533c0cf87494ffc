"""The job's waves of Ray tasks, after stage 1: which task reads which shuffle files.

Every unit of work is one Ray task (:func:`_unit`) named after its wave and index; it is skipped when
its completion marker exists, so a rerun resumes where a killed run stopped. A wave's tasks each
write ONE shuffle file (dedup/shuffle.py) under ``sh/WAVE/INDEX.shuf``, read by the next wave's tasks
with ranged reads. Waves, with S splits and P partitions:

==========  =====  ================================================================================
wave        tasks  does
==========  =====  ================================================================================
cand        P      LSH buckets and exact digests of a slot range → pairs, routed to split(a)
vfirst      S      pairs of a's split, repeats dropped; a's signature attached → split(b)
vsecond     S      b's signature, estimate; decided pairs → edges; close calls + b's shingles → split(a)
vexact      S      exact Jaccard of the close calls → edges
forest      S      components of each split's edges → star edges
large/small S      large-star / small-star rounds until the graph is stars (dedup/components.py)
attach      S      each node's root and attributes → split(root)
kept        S      kept document per cluster; removed → (removed, kept) pairs
afirst..    S      the three similarity waves again, for (removed, kept)
write       S      clean shard + removal report of each split
==========  =====  ================================================================================

No wave ends in one task, and the driver only holds per-task counts.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from dedup import clusters, components, pair_join
from dedup.candidates import process_partition
from dedup.config import DedupConfig
from dedup.outputs import write_split_outputs
from dedup.plots import add_histograms
from dedup.units import Executor, Unit, inline_executor, ray_run_unit, run_unit  # noqa: F401  (re-exported)
from dedup.workdir import WorkDir

MAX_ROUNDS = 200

class Waves:
    """Runs the waves of one job (see the module docstring) through an executor."""

    def __init__(self, work: WorkDir, config: DedupConfig, n_splits: int, partitions: int, execute: Executor) -> None:
        self.work, self.config, self.n, self.partitions, self.execute = work, config, n_splits, partitions, execute
        self.num_perm = config.minhash.num_perm
        self.rule = config.near_duplicate_rule  # which checked pairs are near-duplicates
        self.seconds: dict[str, float] = {}  # wall time of each wave, for the summary
        self.cpu_seconds: dict[str, float] = {}  # CPU time of each wave's units, summed

    def out(self, wave: str, index: int) -> str:
        return self.work.path("sh", wave, f"{index:06d}.shuf")

    def outs(self, wave: str, count: int | None = None) -> list[str]:
        return [self.out(wave, i) for i in range(self.n if count is None else count)]

    def run(self, wave: str, step: Callable[..., dict[str, Any]], args: Callable[[int], tuple[Any, ...]],
            count: int | None = None, label: str | None = None) -> list[dict[str, Any]]:
        units = [(f"{wave}-{i:06d}", step, (self.work, *args(i))) for i in range(self.n if count is None else count)]
        started = time.monotonic()
        results = self.execute(units, label or wave)
        self.seconds[wave] = round(time.monotonic() - started, 3)
        self.cpu_seconds[wave] = round(sum(float(r.get("unit_cpu_seconds", 0.0)) for r in results), 3)
        return results

    # -- candidates and their check ------------------------------------------------------------
    def candidates(self) -> tuple[dict[str, int], dict[str, list[int]]]:
        """Candidate pairs and their check; returns the pair counts for the summary and the
        histogram of the candidate pairs' similarities (merged / rejected, for s_curve.png)."""
        p = self.partitions
        cand = self.run("cand", _candidates, lambda i: (i, p, self.n, self.out("cand", i)), count=p, label="candidates")
        # ids held by more than one document (dedup/id_hashes.py), for the summary
        self.shared_ids = {"shared": sum(int(c.get("shared_ids", 0)) for c in cand),
                           "documents_sharing": sum(int(c.get("documents_sharing_ids", 0)) for c in cand)}
        first = self.run("vfirst", pair_join.verify_first,
                         lambda s: (s, self.outs("cand", p), self.n, self.num_perm, self.out("vfirst", s),
                                    self.out("vfirst-edges", s)), label="verify (signatures of a)")
        second = self.run("vsecond", pair_join.second_wave,
                          lambda s: (s, self.outs("vfirst"), self.n, "verify", self.config.verify, self.rule,
                                     self.config.minhash, self.out("vsecond-edges", s), self.out("vsecond-exact", s)),
                          label="verify (estimate)")
        exact: list[dict[str, Any]] = []
        self.edge_files = self.outs("vfirst-edges") + self.outs("vsecond-edges")
        self.scored_edge_files = self.outs("vsecond-edges")
        if sum(int(s["exact_checks"]) for s in second):
            exact = self.run("vexact", pair_join.exact_wave,
                             lambda s: (s, self.outs("vsecond-exact"), self.n, "verify", self.rule,
                                        self.config.minhash, self.out("vexact-edges", s)), label="verify (exact Jaccard)")
            self.edge_files += self.outs("vexact-edges")
            self.scored_edge_files += self.outs("vexact-edges")
        histogram = add_histograms([s.get("similarity_histogram", {}) for s in second + exact])
        return {
            "candidate_pairs": sum(int(s["candidate_pairs"]) for s in first),
            "verified_pairs": sum(int(s["verified_pairs"]) for s in second + exact),
            "rejected_pairs": sum(int(s["rejected_pairs"]) for s in second + exact),
            "exact_pairs": sum(int(s["exact_pairs"]) for s in first),
            "exact_checks": sum(int(s["exact_checks"]) for s in second),
            "partition_candidate_pairs": sum(int(s["partition_candidate_pairs"]) for s in cand),
        }, histogram

    # -- components and kept documents ---------------------------------------------------------
    def components(self) -> tuple[list[str], list[str]] | None:
        """Runs the component waves; returns (leaf files, root files) of the final stars, or None
        when there is no duplicate edge at all."""
        forest = self.run("forest", components.forest_wave,
                          lambda s: (s, self.edge_files, self.n, self.out("forest", s)), label="components (forest)")
        if not sum(int(f["edges"]) for f in forest):
            return None
        inputs = self.outs("forest")
        for round_index in range(MAX_ROUNDS):
            large = f"large-{round_index}"
            roots = [self.work.path("roots", str(round_index), f"{s:06d}.npy") for s in range(self.n)]
            stats = self.run(large, components.large_star,
                             lambda s, inputs=inputs, large=large, roots=roots: (s, inputs, self.n, self.out(large, s),
                                                                                 roots[s]),
                             label=f"components (round {round_index}, large-star)")
            if not sum(int(s["violations"]) for s in stats):
                return self.outs(large), roots
            small = f"small-{round_index}"
            self.run(small, components.small_star,
                     lambda s, large=large, small=small: (s, self.outs(large), self.n, self.out(small, s)),
                     label=f"components (round {round_index}, small-star)")
            inputs = self.outs(small)
        raise RuntimeError(f"components did not converge in {MAX_ROUNDS} rounds")

    def clusters(self, stars: tuple[list[str], list[str]] | None) -> tuple[dict[str, Any], list[str], list[str]]:
        """Kept document per cluster and (removed, kept) similarities; returns the cluster counts
        and the files holding each split's removed rows (exact, near)."""
        empty = {"clusters": 0, "removed": 0, "exact_removed": 0, "cluster_sizes": {}}
        if stars is None:
            return empty, [], []
        leaves, roots = stars
        self.run("attach", clusters.attach_wave,
                 lambda s: (s, leaves, roots[s], self.n, self.config.keep, self.out("attach", s)), label="clusters (attach)")
        kept = self.run("kept", clusters.kept_wave,
                        lambda s: (s, self.outs("attach"), self.n, self.out("kept-exact", s), self.out("kept-pairs", s)),
                        label="clusters (kept document)")
        near: list[str] = []
        first: list[dict[str, Any]] = []
        if sum(int(k["removed"]) - int(k["exact_removed"]) for k in kept):
            first = self.run("afirst", pair_join.assign_first,
                             lambda s: (s, self.outs("kept-pairs"), self.scored_edge_files, self.n, self.num_perm,
                                        self.out("afirst", s), self.out("afirst-final", s)),
                             label="similarity to kept (signatures)")
            near = self.outs("afirst-final")
        if near and sum(int(f["pairs"]) - int(f["known"]) for f in first):
            second = self.run("asecond", pair_join.second_wave,
                              lambda s: (s, self.outs("afirst"), self.n, "assign", self.config.verify, self.rule,
                                         self.config.minhash, self.out("asecond", s), self.out("asecond-exact", s)),
                              label="similarity to kept (estimate)")
            near += self.outs("asecond")
            if sum(int(s["exact_checks"]) for s in second):
                self.run("aexact", pair_join.exact_wave,
                         lambda s: (s, self.outs("asecond-exact"), self.n, "assign", self.rule,
                                    self.config.minhash, self.out("aexact", s)), label="similarity to kept (exact)")
                near += self.outs("aexact")
        sizes: dict[int, int] = {}
        for stats in kept:
            for size, count in stats["cluster_sizes"].items():
                sizes[int(size)] = sizes.get(int(size), 0) + int(count)
        totals = {key: sum(int(k[key]) for k in kept) for key in ("clusters", "removed", "exact_removed")}
        return {**totals, "cluster_sizes": {str(s): sizes[s] for s in sorted(sizes)}}, self.outs("kept-exact"), near

    def write(self, exact: list[str], near: list[str], extra: list[Unit] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
        """Clean shard and removal report of every split (``extra`` units run in the same wave,
        queued first: the plots take ~1 CPU s, three write units' worth, and queued last they ran
        alone at the wave's end while the other cores waited)."""
        units = [(f"write-{s:06d}", _write_split, (self.work, s, exact, near, self.n)) for s in range(self.n)]
        started = time.monotonic()
        results = self.execute(list(extra) + units, "write")[len(extra):]
        self.seconds["write"] = round(time.monotonic() - started, 3)
        self.cpu_seconds["write"] = round(sum(float(r.get("unit_cpu_seconds", 0.0)) for r in results), 3)
        return results


def _candidates(work: WorkDir, partition: int, partitions: int, n_splits: int, out: str) -> dict[str, int]:
    return process_partition(partition, partitions, n_splits, work, out)


def _write_split(work: WorkDir, split: int, exact: list[str], near: list[str], n_splits: int) -> dict[str, int]:
    return write_split_outputs(split, work, clusters.assigned_rows(work, split, exact, near, n_splits))
