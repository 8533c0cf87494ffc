"""The service's metrics in the Prometheus text format (``GET /metrics``), summed over its workers.

Per process: requests by endpoint, method and status; request latency histograms by endpoint; error
answers by endpoint and status; backend (owner and store) calls by call and outcome with latency
histograms; requests in flight. Label values are bounded: endpoints are the route names (an unknown
path counts as ``unknown``), never raw paths or keys.

Several worker processes serve one port (:mod:`catalog.service_workers`) and a scrape reaches one of
them, so each worker writes its counts to ``<metrics_dir>/worker-<pid>.json`` about once a second and
``/metrics`` sums every worker's file (its own counts taken live). A worker that exits leaves its last
file, so totals do not go backwards when one is replaced. No dependency: the text format is simple.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[str, ...]

_HELP = {
    "haybale_http_requests_total": ("counter", "HTTP requests answered", ("endpoint", "method", "status")),
    "haybale_http_errors_total": ("counter", "HTTP answers with status >= 400", ("endpoint", "status")),
    "haybale_backend_calls_total": ("counter", "calls to the catalog's owners or store",
                                    ("call", "outcome")),
    "haybale_http_request_seconds": ("histogram", "HTTP request latency", ("endpoint",)),
    "haybale_backend_call_seconds": ("histogram", "latency of calls to the catalog's owners or store",
                                     ("call",)),
    "haybale_http_requests_in_flight": ("gauge", "HTTP requests being answered", ()),
}


class Metrics:
    """Counters and histograms of one process; thread-safe."""

    def __init__(self, metrics_dir: str | None = None) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, dict[Labels, float]] = {}
        self.histograms: dict[str, dict[Labels, list[float]]] = {}  # bucket counts..., sum, count
        self.in_flight = 0
        self.metrics_dir = Path(metrics_dir) if metrics_dir else None
        self._last_dump = 0.0

    def _inc(self, name: str, labels: Labels, by: float = 1.0) -> None:
        series = self.counters.setdefault(name, {})
        series[labels] = series.get(labels, 0.0) + by

    def _observe(self, name: str, labels: Labels, seconds: float) -> None:
        row = self.histograms.setdefault(name, {}).get(labels)
        if row is None:
            row = self.histograms[name][labels] = [0.0] * (len(BUCKETS) + 2)
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                row[i] += 1
        row[-2] += seconds
        row[-1] += 1

    def request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._inc("haybale_http_requests_total", (endpoint, method, str(status)))
            if status >= 400:
                self._inc("haybale_http_errors_total", (endpoint, str(status)))
            self._observe("haybale_http_request_seconds", (endpoint,), seconds)

    def backend_call(self, call: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self._inc("haybale_backend_calls_total", (call, outcome))
            self._observe("haybale_backend_call_seconds", (call,), seconds)

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def finished(self) -> None:
        with self._lock:
            self.in_flight -= 1

    # -- sharing between workers -------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counters": {n: [[list(k), v] for k, v in s.items()] for n, s in self.counters.items()},
                "histograms": {n: [[list(k), list(v)] for k, v in s.items()] for n, s in self.histograms.items()},
                "in_flight": self.in_flight,
            }

    def maybe_dump(self, every: float = 1.0) -> None:
        """Write this worker's counts for the others' scrapes (at most every ``every`` seconds)."""
        if self.metrics_dir is None or time.monotonic() - self._last_dump < every:
            return
        self._last_dump = time.monotonic()
        target = self.metrics_dir / f"worker-{os.getpid()}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot()))
        os.replace(tmp, target)

    def merged(self) -> dict[str, Any]:
        """Every worker's counts summed (this process's live, the others' from their last files)."""
        parts = [self.snapshot()]
        if self.metrics_dir is not None:
            own = f"worker-{os.getpid()}.json"
            for path in sorted(self.metrics_dir.glob("worker-*.json")):
                if path.name == own:
                    continue
                try:
                    parts.append(json.loads(path.read_text()))
                except (OSError, ValueError):  # being replaced right now: its next write counts
                    continue
        total: dict[str, Any] = {"counters": {}, "histograms": {}, "in_flight": 0}
        for part in parts:
            total["in_flight"] += part.get("in_flight", 0)
            for name, rows in part["counters"].items():
                series = total["counters"].setdefault(name, {})
                for labels, value in rows:
                    series[tuple(labels)] = series.get(tuple(labels), 0.0) + value
            for name, rows in part["histograms"].items():
                series = total["histograms"].setdefault(name, {})
                for labels, values in rows:
                    have = series.setdefault(tuple(labels), [0.0] * len(values))
                    series[tuple(labels)] = [a + b for a, b in zip(have, values)]
        return total

    def render(self) -> str:
        """The Prometheus text exposition (version 0.0.4) of :meth:`merged`."""
        total = self.merged()
        out: list[str] = []
        for name, (kind, text, label_names) in _HELP.items():
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")
            if kind == "gauge":
                out.append(f"{name} {total['in_flight']}")
            elif kind == "counter":
                for labels, value in sorted(total["counters"].get(name, {}).items()):
                    out.append(f"{name}{_labels(label_names, labels)} {value:g}")
            else:
                for labels, row in sorted(total["histograms"].get(name, {}).items()):
                    for bound, count in zip(BUCKETS, row):
                        out.append(f"{name}_bucket{_labels(label_names, labels, ('le', f'{bound:g}'))} {count:g}")
                    out.append(f"{name}_bucket{_labels(label_names, labels, ('le', '+Inf'))} {row[-1]:g}")
                    out.append(f"{name}_sum{_labels(label_names, labels)} {row[-2]:.6f}")
                    out.append(f"{name}_count{_labels(label_names, labels)} {row[-1]:g}")
        return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra is not None:
        pairs.append(f'{extra[0]}="{extra[1]}"')
    return "{" + ",".join(pairs) + "}" if pairs else ""
