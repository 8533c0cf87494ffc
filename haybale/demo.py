"""``make demo``: run the main job on the embedded default and show every landed capability.

Each step runs the real ``haybale`` command (printed before its output, so it can be copied):
generate a set of small files, pack them into volumes and register them, look them up, read them
back, list them, resume a run, delete a key and rebuild the catalog from the volumes alone (it matches, the key left out), crawl
a local site, index a WARC file in place, dedup the whole catalog, and serve the catalog over HTTP.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from haybale.cli.output import counts

WORDS = ("hay bale needle volume catalog shard record crawl page data clean text dedup minhash "
         "band bucket warc gzip member offset length digest index surt host path").split()


def generate_files(directory: Path, count: int, seed: int = 2026) -> int:
    """``count`` text files of 1-16 KB in a few subdirectories, plus near-duplicate copies of every 50th
    file (one sentence appended) under ``mirror/``; returns total bytes."""
    rng = random.Random(seed)
    total = 0
    (directory / "mirror").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sub = directory / f"part-{i % 8}"
        sub.mkdir(parents=True, exist_ok=True)
        size = rng.randrange(1024, 16384)
        words: list[str] = []
        length = 0
        while length < size:
            w = rng.choice(WORDS)
            words.append(w)
            length += len(w) + 1
        text = f"document {i}\n" + " ".join(words)[:size] + "\n"
        (sub / f"doc-{i:05d}.txt").write_text(text)
        total += len(text)
        if i % 50 == 0:
            copy = text + "This copy was mirrored from another site.\n"
            (directory / "mirror" / f"copy-of-doc-{i:05d}.txt").write_text(copy)
            total += len(copy)
    return total


def generate_site(directory: Path, pages: int, seed: int = 7) -> None:
    """A small web site: article pages with navigation and an ad box, an index linking to them, and
    a 'syndicated' copy of every 10th article (the same story in another page frame)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    links = []
    for i in range(pages):
        words = [rng.choice(WORDS) for _ in range(rng.randint(150, 400))]
        paras = "".join(f"<p>{' '.join(words[j:j + 30]).capitalize()}.</p>" for j in range(0, len(words), 30))
        frame = ('<html><head><title>Story {i}</title></head><body><nav><a href="/">Home</a> | '
                 '<a href="/about.html">About</a></nav><div class="ad-banner">Advertisement: buy hay now'
                 '</div><article><h1>Story {i}</h1>{paras}</article><footer>Copyright haybale demo</footer>'
                 '</body></html>')
        (directory / f"story-{i}.html").write_text(frame.format(i=i, paras=paras))
        links.append(f'<a href="/story-{i}.html">story {i}</a>')
        if i % 10 == 0:
            (directory / f"syndicated-{i}.html").write_text(
                "<html><body><div>Syndicated from the haybale demo</div><main>" + paras +
                "<p>Shared with permission.</p></main></body></html>")
            links.append(f'<a href="/syndicated-{i}.html">syndicated {i}</a>')
    (directory / "index.html").write_text("<html><body>" + " ".join(links) + "</body></html>")
    (directory / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")


def write_warc(path: Path, pages: int, seed: int = 11) -> None:
    """A gzipped WARC of request + response records, written with warcio (one gzip member per record)."""
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(pages):
            url = f"https://warc.example/page/{i}"
            body = ("<html><body><p>" + " ".join(rng.choice(WORDS) for _ in range(200)) + "</p></body></html>").encode()
            req = writer.create_warc_record(url, "request", payload=BytesIO(b""),
                                            http_headers=StatusAndHeaders("GET /page/%d HTTP/1.1" % i, [("Host", "warc.example")],
                                                                          is_http_request=True))
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            resp = writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=headers)
            writer.write_record(req)
            writer.write_record(resp)


def serve(directory: Path) -> tuple[str, "object"]:
    """Serve ``directory`` on 127.0.0.1 (an OS-chosen port) in a thread; returns (base URL, server)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def run(args: list[str], root: str, *, capture: bool = False, show: int = 40) -> str:
    """Run ``haybale ARGS`` against ``root``, echo the command and (up to ``show`` lines of) output."""
    print(f"\n$ haybale {' '.join(shlex.quote(a) for a in args)}", flush=True)
    env = {**os.environ, "HAYBALE_ROOT": root}
    out = subprocess.run([sys.executable, "-m", "haybale", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout + out.stderr)
        raise SystemExit(f"demo step failed: haybale {' '.join(args)} (exit {out.returncode})")
    lines = out.stdout.splitlines()
    for line in lines[:show]:
        print("  " + (line if len(line) <= 110 else line[:107] + "..."))
    if len(lines) > show:
        print(f"  ... ({len(lines) - show} more lines)")
    return out.stdout


def concurrent_jobs(root: str) -> None:
    """Two ingest jobs on one root at the same time, and queries answered (without Ray) while they run."""
    print("\n== 5b. two ingest jobs on one root at once (both write through the catalog owners on the root's "
          "local Ray head), and queries while they run ==")
    inputs = [Path(root) / "demo-input" / f"concurrent-{n}" for n in (1, 2)]
    for n, directory in enumerate(inputs):
        generate_files(directory, 1000, seed=100 + n)
    env = {**os.environ, "HAYBALE_ROOT": root}
    before = json.loads(run(["catalog", "stats", "--json"], root, show=0))["records"]
    print(f"$ haybale ingest files {inputs[0]} &  haybale ingest files {inputs[1]} &")
    jobs = [subprocess.Popen([sys.executable, "-m", "haybale", "ingest", "files", str(d), "--json", "--quiet"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for d in inputs]
    while any(j.poll() is None for j in jobs):
        t = time.perf_counter()
        records = json.loads(run(["catalog", "stats", "--json"], root, show=0))["records"]
        print(f"  while the jobs run: catalog stats answers {records:,} records in {time.perf_counter() - t:.2f} s")
        time.sleep(1.5)
    added = files = 0
    for job in jobs:
        out, _ = job.communicate()
        if job.returncode != 0:
            raise SystemExit(f"demo step failed: a concurrent ingest exited {job.returncode}")
        added, files = added + json.loads(out)["added"], files + json.loads(out)["files"]
    after = json.loads(run(["catalog", "stats", "--json"], root, show=0))["records"]
    exact = after - before == added == files
    print(f"  both jobs done: {files:,} files read, {added:,} added; catalog {before:,} -> {after:,} records "
          f"({'exact' if exact else 'MISMATCH'})")
    if not exact:
        raise SystemExit("demo step failed: concurrent ingests did not add every file exactly once")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; whatever happens, the root's local Ray head that its jobs started is stopped."""
    try:
        return _demo(argv)
    finally:
        from ingest.local_head import read_state, state_dir_of, stop_head

        root = os.path.abspath(_root_of(argv))
        if read_state(state_dir_of(root)) is not None:
            stop_head(root)
            print(f"(stopped the local Ray head of {root})")


def _root_of(argv: list[str] | None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return args[args.index("--root") + 1] if "--root" in args[:-1] else os.environ.get("HAYBALE_ROOT", "./haybale-data")


def _demo(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", default=os.environ.get("HAYBALE_ROOT", "./haybale-data"))
    ap.add_argument("--files", type=int, default=5000)
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    marker = os.path.join(root, ".haybale-demo")
    if os.path.exists(root) and os.listdir(root):
        if not os.path.exists(marker):
            raise SystemExit(f"{root} exists and was not made by the demo: the demo starts from an empty "
                             "root, so give it another one (--root DIR or HAYBALE_ROOT=DIR make demo)")
        shutil.rmtree(root)
    os.makedirs(root, exist_ok=True)
    Path(marker).write_text("made by `make demo`; the next demo run replaces this directory\n")
    src = Path(root) / "demo-input" / "files"
    print(f"haybale demo — deployment root {root} (embedded catalog, local volumes)")
    total = generate_files(src, args.files)
    print(f"generated {args.files:,} small files ({total / 1e6:.1f} MB) under {src}")

    print("\n== 1. pack small files into volumes and register them in the catalog ==")
    summary = json.loads(run(["ingest", "files", str(src), "--run-id", "demo-files", "--json", "--quiet",
                              "--volume-bytes", str(4 << 20)], root, show=12))
    print("\n== 2. catalog statistics ==")
    run(["catalog", "stats"], root)
    print("\n== 3. list by prefix (sorted), then one key's location ==")
    prefix = f"file://{src}/part-3/doc-0001"
    listed = run(["catalog", "ls", prefix], root, show=5).split()
    key = listed[0]
    run(["catalog", "get", key], root)
    print("\n== 4. read one record back: one ranged read, checksum verified ==")
    content = run(["catalog", "cat", key], root, show=3)
    original = (src / "part-3" / Path(key).name).read_text()
    assert content == original, "cat returned different bytes than the file"
    print("  (identical to the original file)")
    print("\n== 5. resume: rerunning the same run id skips what is done; a new run finds every file unchanged ==")
    again = json.loads(run(["ingest", "files", str(src), "--run-id", "demo-files", "--json", "--quiet"], root, show=0))
    print(f"  same run id: {again['splits_skipped_done']} of {again['splits']} splits already done, "
          f"{again['added']} added")
    again = json.loads(run(["ingest", "files", str(src), "--json", "--quiet"], root, show=0))
    print(f"  new run: {again['added']} added, {again['unchanged']:,} unchanged, {again['volumes']} new volumes")
    concurrent_jobs(root)
    print("\n== 6. delete a key (a takedown), then rebuild the catalog from the volumes and their CDXJ sidecars "
          "alone: the deleted key stays out ==")
    rebuilt_dir = os.path.join(root, "catalog-rebuilt")
    taken_down = run(["catalog", "ls", "--limit", "1"], root, show=0).strip()
    run(["catalog", "delete", taken_down], root)
    records = json.loads(run(["catalog", "stats", "--json"], root, show=0))["records"]
    report = json.loads(run(["catalog", "rebuild", "--into", rebuilt_dir, "--json"], root, show=6))
    assert report["records"] == records, "rebuilt catalog lost records"
    assert report["deleted"] == 1, "the deleted key came back in the rebuilt catalog"
    before = run(["catalog", "ls", "--long"], root, show=0)
    after = run(["catalog", "ls", "--long", "--catalog-dir", rebuilt_dir], root, show=0)
    same = [line.split("volume=")[0] + line.split(" ", 1)[1] for line in before.splitlines()] == \
           [line.split("volume=")[0] + line.split(" ", 1)[1] for line in after.splitlines()]
    print(f"  rebuilt catalog {'matches' if same else 'DIFFERS FROM'} the original "
          f"({report['records']:,} records, {report['skipped']} skipped; the deleted key left out)")
    print("\n== 7. crawl a local web site on Ray actors (robots.txt, link following, WARC response records) ==")
    site = Path(root) / "demo-input" / "site"
    generate_site(site, 120)
    base, server = serve(site)
    try:
        seeds = Path(root) / "demo-input" / "seeds.txt"
        seeds.write_text(f"# one URL per line\n{base}/index.html\n{base}/private/secret.html\n")
        crawl = json.loads(run(["ingest", "crawl", "--seeds", str(seeds), "--allow-private", "--no-politeness",
                                "--follow-links", "--max-depth", "1", "--allow-domain", "127.0.0.1",
                                "--run-id", "demo-crawl", "--json",
                                "--quiet"], root, show=0))
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    print(f"  outcomes: {counts(crawl['outcomes'])}; {crawl['pages']} pages stored in {crawl['volumes']} volume(s); "
          f"rejected: {', '.join(r['url'].rsplit('/', 2)[-1] for r in crawl['rejected']) or 'none'}")
    run(["catalog", "ls", base + "/", "--limit", "3"], root)
    run(["catalog", "cat", f"{base}/story-3.html"], root, show=2)

    print("\n== 8. index a WARC file written by another tool (warcio) in place: the catalog points into it ==")
    warc_path = Path(root) / "demo-input" / "warc" / "pages.warc.gz"
    write_warc(warc_path, 50)
    warc = json.loads(run(["ingest", "warc", str(warc_path), "--run-id", "demo-warc", "--json", "--quiet"],
                          root, show=0))
    print(f"  indexed {warc['indexed']} records in place, skipped by type: {counts(warc['skipped'])}, "
          f"quarantined {warc['quarantined']}")
    run(["catalog", "get", "https://warc.example/page/7"], root)

    print("\n== 9. dedup everything in the catalog on a local process pool (on Ray with --address): clean HTML, "
          "exact + MinHash-LSH near duplicates ==")
    out = os.path.join(root, "dedup-output")
    dd = json.loads(run(["dedup", "run", "--input", "catalog:", "--output", out, "--run-id",
                         "demo-dedup", "--json", "--quiet"], root, show=0))
    docs = dd["documents"]
    print(f"  {docs['input']:,} documents in, {docs['kept']:,} kept, removed: {counts(docs['removed_by_reason'])}")
    print(f"  clean dataset, removal report, summary and plots in {out}: {sorted(os.listdir(out))}")
    import pyarrow.parquet as pq

    first = pq.read_table(os.path.join(out, "removed")).slice(0, 1).to_pylist()[0]
    print(f"  e.g. removed {first['id']}\n    as {first['reason']} of {first['kept_id']} "
          f"(similarity {first['similarity']:.2f}); its catalog entry now carries the mark:")
    run(["catalog", "get", first["id"]], root)

    print("\n== 10. serve the catalog over HTTP (loopback) and query it from other processes ==")
    from catalog.service_run import spawn_service
    from catalog.tokens import generate_token

    os.environ.setdefault("HAYBALE_TOKEN", generate_token())  # the service and the --url commands share it
    print("\n$ HAYBALE_TOKEN=... haybale serve --port 0 &", flush=True)
    service, url, _ = spawn_service(root)
    print(f"  serving on {url}")
    try:
        run(["catalog", "stats", "--url", url, "--json"], root, show=4)
        run(["catalog", "ls", base + "/", "--limit", "2", "--url", url], root)
        served = run(["catalog", "cat", key, "--url", url], root, show=0)
        assert served == original, "the service returned different bytes than the file"
        print("  (cat through the service: identical to the original file)")
    finally:
        service.terminate()  # SIGTERM to the one process this demo started: it closes the store and exits
        service.wait(timeout=30)
    print(f"  service stopped (exit {service.returncode})")

    print("\n== 10b. checkpoint every catalog owner to the root (SST files uploaded once, manifest last; a lost "
          "owner restores from it plus the volumes sealed since) ==")
    run(["catalog", "checkpoint"], root)
    print("\n== 10c. compact every owner's location index into one sorted run (batched lookups then read it "
          "by seeks; owners also do it by themselves after 30 s without writes) ==")
    run(["catalog", "compact"], root)

    print("\n== 11. stop the root's local Ray head (job commands started it; it also stops after 15 idle minutes) ==")
    run(["cluster", "status"], root)
    run(["down"], root)
    print(f"\ndone: {summary['files']:,} files in {summary['volumes']} volumes, "
          f"{summary['files_per_s']:,} files/s. Try: HAYBALE_ROOT={root} .venv/bin/haybale catalog ls | head")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
