"""What the Python API adds on top of the packages: operations that span two of them.

:func:`dedup_catalog` dedups the records a root's catalog holds and marks every key kept or removed:
it needs both ``catalog`` (the store, the marks) and ``dedup`` (the job), which do not know each
other's jobs, so it lives here, on top. ``haybale dedup run --input catalog:PREFIX`` calls it.
"""
from __future__ import annotations

from typing import Any, Sequence

from catalog.store import Store
from dedup.config import DedupConfig


def dedup_catalog(store: Store, prefixes: Sequence[str], output: str, config: DedupConfig = DedupConfig(), *,
                  run_id: str | None = None, address: str | None = None, progress: bool = True,
                  file_inputs: Sequence[str] = (), text_field: str = "text", id_field: str | None = None,
                  url_field: str | None = None, inputs: Sequence[str] | None = None,
                  overwrite: bool = False, max_decoded: int | None = None) -> dict[str, Any]:
    """Dedup the records of ``store``'s catalog under each key/URL prefix in ``prefixes`` (``""`` for
    all), plus any ``file_inputs`` (JSONL, Parquet, WARC), into ``output``; then mark every catalog key
    ``kept`` or ``removed`` with its reason. Returns the job's summary with ``catalog_marks`` (keys
    marked) and ``catalog_marks_missing`` (keys deleted from the catalog while the run ran: not marked). ``store`` must be open for writing (the marks are writes). Resumable by ``run_id`` like
    :func:`dedup.job.run_dedup`; the planned key ranges are kept in the run's folder under the root.

    ``id_field`` / ``url_field``: where each document's id and url come from (for catalog records
    ``key`` or a WARC header, default ``key``; for files as in :func:`dedup.inputs.source_for_inputs`).
    Marks are written by catalog key, so only when the catalog records' ids are their keys; otherwise
    the summary says so in ``catalog_marks_skipped`` (each document's metadata holds its key).
    ``max_decoded``: the decoded-size cap of one record (default 64 MiB), as in ``source_for_inputs``."""
    from catalog.content_coding import DEFAULT_MAX_DECODED_BYTES
    from catalog.storage import remove_tree, url_exists
    from dedup.catalog_source import CatalogMarkSink, plan_catalog_source
    from dedup.inputs import MultiSource, source_for_inputs
    from dedup.job import new_run_id, run_dedup
    from dedup.workdir import WorkDir

    cap = DEFAULT_MAX_DECODED_BYTES if max_decoded is None else max_decoded
    run_id = run_id or f"dedup-{new_run_id()}"
    splits_url = store.layout.catalog_splits_url(run_id)
    run_url = store.layout.run_url(run_id)
    new_run = not url_exists(run_url)
    try:
        catalog_sources = [plan_catalog_source(store.catalog, prefix, f"{splits_url}/{n:03d}", id_field=id_field,
                                               url_field=url_field, max_decoded=cap)
                           for n, prefix in enumerate(prefixes)]
        sources: list[Any] = list(catalog_sources)
        if file_inputs:
            sources.append(source_for_inputs(list(file_inputs), text_field=text_field, id_field=id_field,
                                             url_field=url_field, max_decoded=cap))
        source = sources[0] if len(sources) == 1 else MultiSource(sources)
        sink = CatalogMarkSink(store.catalog) if all(s.ids_are_keys for s in catalog_sources) else None
        described = list(inputs) if inputs is not None else [f"catalog:{p}" for p in prefixes] + list(file_inputs)
        summary = run_dedup(source, output, config, run_id=run_id, address=address, mark_sink=sink,
                            progress=progress, inputs=described, overwrite=overwrite, protected=_root_places(store))
    except BaseException:
        # a run refused or failed before it started (bad input, output refused) leaves no plan behind;
        # one that started keeps it, so that the same --run-id resumes it
        if new_run and not url_exists(WorkDir(output, run_id).path("config.json")):
            remove_tree(run_url)
        raise
    if sink is None:
        summary["catalog_marks"] = 0
        summary["catalog_marks_skipped"] = (f"--id-field {id_field}: the ids are not catalog keys, so no verdict "
                                            "was marked in the catalog (each document's metadata holds its key)")
    return summary


def _root_places(store: Store) -> list[str]:
    """What a dedup run over ``store``'s catalog reads or must not lose: the root's volumes, in-place
    indexes, runs, deletion log, catalog and meta record, and every WARC file indexed in place."""
    from catalog.catalog_meta import meta_url

    layout = store.layout
    external = [str(row["url"]) for row in store.catalog.volumes if row.get("kind") == "external"]
    return [layout.volumes_url, layout.indexes_url, layout.runs_url, layout.deletes_url, str(layout.catalog_dir),
            meta_url(layout.root), *external]

