"""The public face: ``import haybale`` gives the API and the error classes, each name is what it claims,
and importing costs nothing (no Ray, no RocksDB) until a name is used."""
from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import haybale
from haybale.errors import HaybaleError

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["haybale", "catalog", "ingest", "dedup"]


def _exports(package: str) -> dict[str, str]:
    return importlib.import_module(package)._EXPORTS  # type: ignore[no-any-return]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_what_it_claims(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__doc__ and len(module.__doc__) > 200, f"{package} needs a docstring saying what it is"
    exports = _exports(package)
    assert sorted(set(module.__all__) - {"__version__"}) == sorted(exports)
    for name, source in exports.items():
        value = getattr(module, name)
        assert value is getattr(importlib.import_module(source), name), f"{package}.{name}"
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__name__ == name, f"{package}.{name} is {value.__name__}"
        if name.endswith("Error"):
            assert inspect.isclass(value) and issubclass(value, HaybaleError), f"{package}.{name}"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent_name'"):
        module.nonexistent_name  # noqa: B018


def test_the_api_a_user_needs_is_there() -> None:
    """Open a store, run each ingest job, run dedup, query through the client, catch the errors."""
    for name in ("Store", "Catalog", "CatalogClient", "CatalogReader", "MemoryCatalog", "Location",
                 "run_files_job", "run_warc_job", "run_crawl_job", "run_dedup", "dedup_catalog",
                 "source_for_inputs", "FilesJobConfig", "WarcJobConfig", "CrawlJobConfig", "CrawlConfig",
                 "DedupConfig", "HaybaleError", "CatalogError", "IngestError", "DedupError", "CleanError"):
        assert name in haybale.__all__, name
    for name in ("run_files_job", "run_warc_job", "run_crawl_job", "run_dedup", "dedup_catalog"):
        assert callable(getattr(haybale, name))
    assert issubclass(haybale.CleanError, haybale.DedupError)
    assert issubclass(haybale.WarcJobError, haybale.IngestJobError)
    assert haybale.IngestJobError.exit_status == haybale.JobError.exit_status == 1
    assert haybale.KeyNotFoundError.exit_status == 2
    for reader in (haybale.Store, haybale.CatalogClient, haybale.MemoryCatalog):
        for method in ("get", "get_many", "list", "items", "stats", "cat", "mark_of", "describe", "close"):
            assert callable(getattr(reader, method)), f"{reader.__name__}.{method}"


def test_every_error_class_is_exported() -> None:
    import haybale.errors as errors

    classes = {name for name, value in vars(errors).items()
               if inspect.isclass(value) and issubclass(value, HaybaleError)}
    assert classes == set(errors.__all__)
    assert {name for name in haybale.__all__ if name.endswith("Error")} == classes


def test_the_version_is_written_once() -> None:
    assert haybale.__version__ == importlib.metadata.version("haybale")
    text = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and haybale.__version__ not in text


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_is_cheap_and_the_client_needs_no_rocksdb() -> None:
    heavy = {"ray", "rocksdict", "numba", "aiohttp", "pyarrow"}
    assert not heavy & _loaded_after("import haybale, catalog, ingest, dedup")
    assert "rocksdict" not in _loaded_after("from haybale import CatalogClient")
    assert "rocksdict" not in _loaded_after("import catalog.client")
    assert "rocksdict" in _loaded_after("from haybale import Store")  # the check can see an import
