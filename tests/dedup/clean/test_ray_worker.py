"""The config travels to a Ray worker, which builds its own adblock engine and gives the same text."""
from __future__ import annotations

import pytest

from bench.aeb_metric import BenchmarkPage
from dedup.clean import CleanConfig, clean_html


@pytest.mark.ray
def test_clean_html_in_ray_worker_matches_local(
    ray_session: None, aeb_pages: dict[str, BenchmarkPage], adblock_config: CleanConfig
) -> None:
    import ray

    @ray.remote
    def clean_batch(batch: list[tuple[bytes, str]], config: CleanConfig) -> list[str]:
        return [clean_html(html, url, config).text for html, url in batch]

    pages = sorted(aeb_pages.values(), key=lambda p: p.page_id)[:10]
    batch = [(p.html, p.url) for p in pages]
    remote = ray.get(clean_batch.remote(batch, adblock_config))  # one call for the whole batch
    assert remote == [clean_html(html, url, adblock_config).text for html, url in batch]
