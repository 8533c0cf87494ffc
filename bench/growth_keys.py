"""Synthetic crawl data for the catalog growth benchmark: URL keys and the locations a packer gives them.

The URLs follow the shape of a Common Crawl segment, not a uniform pattern: hosts drawn from a
skewed (power-law) distribution over a pool of ``~n/25`` hosts, 60% ``www.``, a TLD mix led by
``.com`` (48%) with country and generic TLDs after it, and paths of several site styles — dated news
articles with word slugs, product pages, ``index.php?id=…&page=…`` queries, numbered forum threads,
deep category paths. Every URL carries a number unique to it (``uid``: the entry's index), so the
``n`` keys are ``n`` distinct catalog entries, and slugs are drawn from a 4,096-word vocabulary with a
Zipf-like skew. Average length ~61 characters (Common Crawl's URLs average 60-90).

Everything is a pure function of the entry index range and a seed, so any chunk can be regenerated
(the benchmark samples keys for lookups from the chunks it registered).

Locations are what :class:`catalog.volume.VolumeWriter` would assign a crawl: records of
log-normally distributed length (median ~12 KB, 200 B to 1 MiB) appended to 1 GiB volumes, numbered
per chunk (a worker leases its own block of volume numbers), with a random 64-bit digest.
"""
from __future__ import annotations

import numpy as np

from catalog.location import pack_many

_TLDS = [("com", 48), ("org", 6), ("net", 5), ("de", 5), ("ru", 4), ("co.uk", 3), ("jp", 3), ("fr", 2),
         ("it", 2), ("nl", 2), ("pl", 2), ("com.br", 2), ("info", 2), ("com.au", 2), ("es", 2), ("edu", 1),
         ("io", 1), ("cn", 1), ("in", 1), ("ca", 1), ("ch", 1), ("se", 1), ("cz", 1), ("gov", 1)]
_TLD_BY_SHARE = [tld for tld, share in _TLDS for _ in range(share)]
_SUBDOMAINS = ["www."] * 12 + [""] * 6 + ["blog.", "shop.", "en.", "m."]
_SYLLABLES = ["ka", "lo", "mi", "ra", "to", "ne", "su", "vi", "de", "po", "an", "el", "ir", "os", "un", "ba",
              "ce", "di", "fa", "go", "hu", "ja", "ki", "la", "me", "no", "pi", "qu", "re", "sa", "ti", "ve",
              "wo", "xa", "yo", "zu", "tech", "news", "shop", "data"]
_SECTIONS = ["news", "blog", "products", "category", "forum", "article", "story", "sport", "en", "de",
             "wiki", "docs", "help", "events", "recipes", "travel", "music", "video", "tag", "archive"]
_EXTS = ["", ".html", ".htm", ".php", "/", ".aspx"]


def _word(i: int) -> str:
    """A pronounceable pseudo-word for vocabulary index ``i`` (2-4 syllables)."""
    n = len(_SYLLABLES)
    parts = [_SYLLABLES[i % n], _SYLLABLES[(i // n) % n]]
    if i % 3:
        parts.append(_SYLLABLES[(i // (n * n) + i) % n])
    if i % 7 == 0:
        parts.append(_SYLLABLES[(i * 31) % n])
    return "".join(parts)


VOCAB = [_word(i * 2654435761 % 1_000_003) for i in range(4096)]


def host_name(h: int) -> str:
    """The host of pool index ``h``: subdomain, one or two words, TLD (all a function of ``h``)."""
    x = (h * 0x9E3779B1) & 0xFFFFFFFF
    tld = _TLD_BY_SHARE[x % len(_TLD_BY_SHARE)]
    name = VOCAB[h % 4096] + ("-" + VOCAB[(h // 4096) % 4096] if h >= 4096 or x % 5 == 0 else "")
    if h >= 4096 * 4096:
        name += str(h // (4096 * 4096))
    return f"{_SUBDOMAINS[(x >> 8) % len(_SUBDOMAINS)]}{name}.{tld}"


def make_urls(start: int, count: int, host_pool: int, seed: int = 7) -> list[str]:
    """URLs of entries ``start .. start+count`` (see the module docstring)."""
    rng = np.random.default_rng([seed, start])
    # power-law host popularity: a few hosts get many pages, most get a handful
    hosts = np.minimum((host_pool * rng.random(count) ** 2.5).astype(np.int64), host_pool - 1)
    styles = rng.integers(0, 6, count)
    words = np.minimum((4096 * rng.random((count, 4)) ** 2).astype(np.int64), 4095)
    small = rng.integers(1, 60, (count, 3))
    exts = rng.integers(0, len(_EXTS), count)
    scheme = np.where(rng.random(count) < 0.85, "https", "http")
    out = []
    for j in range(count):
        uid = start + j
        w = words[j]
        s = small[j]
        sec = _SECTIONS[(w[3] + s[2]) % len(_SECTIONS)]
        style = styles[j]
        if style == 0:  # dated news article with a slug
            path = f"/{sec}/{2010 + s[0] % 16}/{1 + s[1] % 12:02d}/{VOCAB[w[0]]}-{VOCAB[w[1]]}-{VOCAB[w[2]]}-{uid}{_EXTS[exts[j]]}"
        elif style == 1:  # product page
            path = f"/{sec}/{VOCAB[w[0]]}-{VOCAB[w[1]]}/p/{uid}"
        elif style == 2:  # query-string page
            path = f"/index.php?id={uid}&page={s[0]}&lang={VOCAB[w[0]][:2]}"
        elif style == 3:  # forum thread
            path = f"/{sec}/thread-{uid}-{s[0]}.html"
        elif style == 4:  # deep category path
            path = f"/{sec}/{VOCAB[w[0]]}/{VOCAB[w[1]]}/{VOCAB[w[2]]}_{uid}{_EXTS[exts[j]]}"
        else:  # blog post slug
            path = f"/{VOCAB[w[0]]}-{VOCAB[w[1]]}-{VOCAB[w[2]]}-{VOCAB[w[3]]}-{uid}/"
        out.append(f"{scheme[j]}://{host_name(int(hosts[j]))}{path}")
    return out


def make_locations(start: int, count: int, seed: int = 7) -> np.ndarray:
    """Packed 22-byte locations for entries ``start .. start+count``: crawl records appended to
    1 GiB volumes numbered from ``start // 1000`` (chunks of >= 1,000 entries lease disjoint blocks,
    as workers do)."""
    rng = np.random.default_rng([seed, start, 1])
    lengths = np.clip(rng.lognormal(np.log(12_000), 1.0, count), 200, 1 << 20).astype(np.uint64)
    ends = np.cumsum(lengths)
    begins = ends - lengths
    volume_in_chunk = begins >> np.uint64(30)
    volumes = (np.uint64(start // 1000) + volume_in_chunk + np.uint64(1)).astype(np.uint32)
    offsets = begins - (volume_in_chunk << np.uint64(30))
    digests = rng.integers(0, np.iinfo(np.uint64).max, count, dtype=np.uint64, endpoint=True)
    return pack_many(volumes, offsets, lengths.astype(np.uint32), digests)
