"""Bytes to text: BOM, meta charset, UTF-8 fallback; never an exception."""
from __future__ import annotations

import codecs
import os

from dedup.clean.decode import decode_html, sniff_charset


def test_meta_charset_is_honoured() -> None:
    html = '<html><head><meta charset="windows-1251"></head><body><p>Привет мир</p></body></html>'
    data = html.encode("cp1251")
    assert sniff_charset(data) == "cp1251"
    assert "Привет мир" in decode_html(data)


def test_http_equiv_charset_and_latin1_label_means_windows_1252() -> None:
    html = ('<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
            "<p>caf\u00e9 \u2013 na\u00efve</p>")
    assert "caf\u00e9 \u2013 na\u00efve" in decode_html(html.encode("cp1252"))


def test_bom_wins_and_is_stripped() -> None:
    data = codecs.BOM_UTF16_LE + "<p>h\u00e9llo</p>".encode("utf-16-le")
    assert decode_html(data) == "<p>h\u00e9llo</p>"


def test_undecodable_bytes_become_replacement_characters() -> None:
    data = b"<p>ok \xff\xfe\xfa bytes</p>"
    assert decode_html(data) == "<p>ok \ufffd\ufffd\ufffd bytes</p>"


def test_unknown_meta_charset_falls_back_to_utf8() -> None:
    assert decode_html('<meta charset="no-such-codec"><p>\u00fc</p>'.encode()) .endswith("<p>\u00fc</p>")


def test_random_bytes_never_raise() -> None:
    for seed in range(20):
        data = os.urandom(2000) if seed % 2 else b'<meta charset="utf-16">' + os.urandom(500)
        assert isinstance(decode_html(data), str)
