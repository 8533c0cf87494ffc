"""``haybale ingest crawl --seeds FILE``: crawl seed URLs on Ray actors into volumes and the catalog."""
from __future__ import annotations

import argparse
from typing import Any

from haybale.cli import output
from haybale.cli.options import add_job_options, command, non_negative_float, non_negative_int, positive_int
from haybale.cli.stores import job_store, volume_defaults
from ingest.crawl.config import CrawlConfig


def register(cmds: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``crawl`` subcommand to the ``haybale ingest`` subparsers ``cmds``."""
    defaults = CrawlConfig()
    p = command(cmds, "crawl", "crawl the URLs of a seeds file into volumes and the catalog (a Ray job)",
                cmd_crawl)
    p.add_argument("--seeds", required=True, metavar="FILE",
                   help="text file with one URL per line ('#' comments and blank lines are skipped)")
    p.add_argument("--allow-private", action="store_true",
                   help="also fetch private, loopback and link-local addresses (tests, intranets)")
    p.add_argument("--no-politeness", action="store_true",
                   help="no per-host concurrency cap or delay (only for your own servers); robots.txt still obeyed")
    p.add_argument("--concurrency", type=positive_int, default=defaults.concurrency,
                   help=f"requests in flight per fetcher actor (default {defaults.concurrency})")
    p.add_argument("--per-host-concurrency", type=positive_int, default=defaults.per_host_concurrency,
                   help=f"requests in flight per host (default {defaults.per_host_concurrency})")
    p.add_argument("--delay", type=non_negative_float, default=defaults.delay,
                   help=f"seconds between requests to one host, raised to its Crawl-delay (default {defaults.delay})")
    p.add_argument("--max-body-bytes", type=positive_int, default=defaults.max_body_bytes,
                   help="bodies longer than this are stored truncated, marked WARC-Truncated (default 1 MiB)")
    p.add_argument("--follow-links", action="store_true", help="also crawl links found on pages (needs --allow-domain)")
    p.add_argument("--max-depth", type=non_negative_int, default=1, help="link depth to follow from the seeds (default 1)")
    p.add_argument("--allow-domain", action="append", default=[], metavar="DOMAIN",
                   help="follow links only to this domain and its subdomains (repeatable)")
    p.add_argument("--actors", type=non_negative_int, default=0, help="fetcher actors (default: one per CPU of the cluster)")
    p.add_argument("--batch-urls", type=positive_int, default=5000, help="URLs per unit of work (default 5000)")
    p.add_argument("--volume-bytes", type=positive_int, default=None,
                   help="seal a volume once it reaches this size (default 1 GiB)")
    add_job_options(p)


def crawl_config_of(args: argparse.Namespace) -> CrawlConfig:
    """The :class:`CrawlConfig` the options ask for (raises CrawlConfigError for bad values)."""
    return CrawlConfig(allow_private=args.allow_private, politeness=not args.no_politeness,
                       concurrency=args.concurrency, per_host_concurrency=args.per_host_concurrency,
                       delay=args.delay, max_body_bytes=args.max_body_bytes, follow_links=args.follow_links,
                       max_depth=args.max_depth if args.follow_links else 0,
                       allowed_domains=tuple(d.lower().strip(".") for d in args.allow_domain))


def cmd_crawl(args: argparse.Namespace) -> int:
    from ingest.crawl_job import CrawlJobConfig, run_crawl_job

    volume_defaults(args)
    crawl_config = crawl_config_of(args)
    config = CrawlJobConfig(run_id=args.run_id, actors=args.actors, batch_urls=args.batch_urls,
                            volume_bytes=args.volume_bytes)
    with job_store(args) as store:
        out = run_crawl_job(store, args.seeds, crawl_config, config, show_progress=not args.quiet,
                            address=args.address, num_cpus=args.num_cpus, local=args.no_ray).as_dict()
    if args.json:
        output.print_json(out)
    else:
        print(format_summary(out))
    return 0


def format_summary(out: dict[str, Any]) -> str:
    lines = [f"crawled {output.count(out['results'])} URLs in {output.seconds(out['seconds'])} [run {out['run_id']}]: "
             f"{output.count(out['pages'])} pages stored ({output.count(out['records'])} records, "
             f"{output.size(out['body_bytes'])} of bodies) in {out['volumes']} volumes; "
             f"{output.count(out['added'])} added, {output.count(out['updated'])} updated, "
             f"{output.count(out['unchanged'])} unchanged",
             "outcomes: " + output.counts(out["outcomes"]),
             f"seeds {output.count(out['seeds'])} ({out['seeds_invalid']} invalid, {out['seeds_duplicate']} "
             f"duplicate), {output.count(out['skipped_known'])} already in the catalog; {out['splits']} batches "
             f"({out['splits_skipped_done']} done before); {output.count(out['rejects_total'])} rejects"]
    if out.get("links_found"):
        lines.append(f"links: {output.count(out['links_found'])} on the pages below --max-depth; not followed: "
                     f"{output.count(out.get('links_nofollow', 0))} nofollow (rel or the page's robots tags), "
                     f"{output.count(out['links_off_domain'])} outside --allow-domain")
    if out["rejected"]:
        state = out.get("run_state", "the run")
        lines.append(output.listed(out["rejected"], 20, _reject_line, "rejected", total=out["rejects_total"],
                                   all_in=f'"invalid" in {state}/plan.json and "rejects" in {state}/done/*.json'))
    return "\n".join(lines)


def _reject_line(reject: dict[str, Any]) -> str:
    url = reject.get("url", "")
    rest = ", ".join(f"{k} {v}" for k, v in reject.items() if k != "url")
    return f"{url}: {rest}" if url else rest
