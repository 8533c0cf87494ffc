"""The service's API as an OpenAPI 3.1 document (``GET /openapi.json``), built from the running
configuration so the limits it states are the ones enforced. tests/catalog/test_front_door.py checks
that every route the service has is documented (and nothing else), and validates real answers against
the schemas here (JSON Schema 2020-12, as OpenAPI 3.1 uses)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

_LOCATION_ROW = {"type": ["array", "null"], "prefixItems": [
    {"type": "integer"}, {"type": "integer"}, {"type": "integer"}, {"type": "string", "pattern": "^[0-9a-f]{16}$"}],
    "minItems": 4, "maxItems": 4}
_MARK = {"type": ["object", "null"], "required": ["status", "reason"],
         "properties": {"status": {"type": "string"}, "reason": {"type": "string"}}}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["type", "message"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}},
    "Record": {"type": "object", "required": ["key", "canonical_key", "volume", "offset", "length", "digest",
                                              "volume_url", "mark"],
               "properties": {"key": {"type": "string"}, "canonical_key": {"type": "string"},
                              "volume": {"type": "integer"}, "offset": {"type": "integer"},
                              "length": {"type": "integer"},
                              "digest": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                              "volume_url": {"type": "string"}, "mark": _MARK}},
    "Lookup": {"type": "object", "required": ["fields", "locations"],
               "properties": {"fields": {"const": ["volume", "offset", "length", "digest"]},
                              "locations": {"type": "array", "items": _LOCATION_ROW}}},
    "ListPage": {"type": "object", "required": ["keys", "next_cursor"],
                 "properties": {"keys": {"type": "array", "items": {"type": "string"}},
                                "next_cursor": {"type": ["string", "null"]},
                                "fields": {"type": "array"},
                                "locations": {"type": "array", "items": _LOCATION_ROW}}},
    "Stats": {"type": "object", "required": ["records", "volumes", "volume_bytes"],
              "properties": {"records": {"type": "integer"}, "volumes": {"type": "integer"},
                             "volume_bytes": {"type": "integer"}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
}


def _version() -> str:
    try:
        return version("haybale")
    except PackageNotFoundError:  # run from a source tree without installing
        return "0+unknown"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, what: str) -> dict[str, Any]:
    return {"description": what, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    what = {400: "bad input: the message names the parameter and the fix", 401: "no or wrong bearer token",
            404: "key or endpoint not found", 413: "too many keys, body or content too large",
            416: "range outside the content", 500: "corrupt or missing volume data (naming volume and offset)",
            502: "(--upstream) the upstream service refused this service's token (HAYBALE_UPSTREAM_TOKEN)",
            503: "the owners or store cannot be reached now; retry after Retry-After seconds"}
    return {str(c): _json("Error", what[c]) for c in (*codes, 401, 502, 503)}


def _query(name: str, what: str, required: bool = False, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": what,
            "schema": schema or {"type": "string"}}


_KEY = _query("key", "the key: a URL, a file:// URI or an id (URL-encoded)", True)
_FLAG = {"type": "string", "enum": ["0", "1", "true", "false", "yes", "no"]}
_BATCH = {"required": True, "content": {
    "application/json": {"schema": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                              {"type": "object", "properties": {"keys": {"type": "array"}}}]}}}}


def openapi_document(config: Any) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a service running with ``config`` (a ServiceConfig)."""
    lim = (f"At most {config.max_batch:,} keys per request, {config.max_key_bytes:,} bytes per key and "
           f"{config.body_limit:,} bytes of body.")
    packed_in = {"schema": {"type": "string", "format": "binary"},
                 "description": "per key: a 2-byte big-endian length, then the key's UTF-8 bytes"}
    lookup_body = {"required": True, "content": {**_BATCH["content"], "application/x-haybale-keys": packed_in}}
    packed_out = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "liveness (no token, no data)", "security": [],
                             "responses": {"200": _json("Health", "serving")}}},
        "/metrics": {"get": {"summary": "Prometheus text: requests, latencies, errors, owner/store calls",
                             "responses": {"200": {"description": "text/plain; version=0.0.4",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}},
                                           **_errors()}}},
        "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3.1"},
                                                                              **_errors()}}},
        "/v1/record": {"get": {"summary": "a key's location, volume URL and dedup mark", "parameters": [_KEY],
                               "responses": {"200": _json("Record", "found"), **_errors(400, 404)}}},
        "/v1/content": {"get": {
            "summary": "the record's content; one byte range; ETag from the digest",
            "parameters": [_KEY, _query("raw", "1: the whole WARC record", schema=_FLAG),
                           _query("max_decoded", "refuse (413) content decoding past this many bytes",
                                  schema={"type": "string", "pattern": "^[0-9]+$"}),
                           {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
                            "description": "bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX"},
                           {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the content", "content": packed_out,
                                  "headers": {"ETag": {"schema": {"type": "string"}},
                                              "Content-Length": {"schema": {"type": "integer"}}}},
                          "206": {"description": "the asked range", "content": packed_out,
                                  "headers": {"Content-Range": {"schema": {"type": "string"}}}},
                          "304": {"description": "If-None-Match matched the ETag"},
                          **_errors(400, 404, 413, 416, 500)}}},
        "/v1/lookup": {"post": {
            "summary": "batched lookup → locations in input order (null where absent). " + lim,
            "parameters": [_query("format", "json (default) or packed: n found bytes then n 22-byte locations",
                                  schema={"type": "string", "enum": ["json", "packed"]})],
            "requestBody": lookup_body,
            "responses": {"200": {"description": "locations", "content": {
                "application/json": {"schema": _ref("Lookup")}, **packed_out}}, **_errors(400, 413)}}},
        "/v1/list": {"get": {
            "summary": "keys under a prefix in listing order (SURT order for URLs), paged by an opaque cursor",
            "parameters": [_query("prefix", "URL, SURT or key prefix"),
                           _query("limit", f"1 to {config.max_list_limit:,} (default 1,000)",
                                  schema={"type": "string", "pattern": "^[0-9]+$"}),
                           _query("cursor", "next_cursor of the previous page, unchanged"),
                           _query("locations", "1: with each key's location row", schema=_FLAG)],
            "responses": {"200": _json("ListPage", "a page"), **_errors(400)}}},
        "/v1/stats": {"get": {"summary": "the catalog's statistics",
                              "responses": {"200": _json("Stats", "statistics"), **_errors()}}},
        # issue 9's endpoints, spoken by CatalogClient and the --url commands
        "/v1/health": {"get": {"summary": "status, backend, limits",
                               "responses": {"200": _json("Health", "serving"), **_errors()}}},
        "/v1/get": {"get": {"summary": "a key's location and volume URL (no mark)", "parameters": [_KEY],
                            "responses": {"200": {"description": "found"}, **_errors(400, 404)}}},
        "/v1/get_many": {"post": {"summary": "batched lookup (as /v1/lookup, JSON keys only). " + lim,
                                  "parameters": [_query("format", "json or packed",
                                                        schema={"type": "string", "enum": ["json", "packed"]})],
                                  "requestBody": _BATCH,
                                  "responses": {"200": {"description": "locations"}, **_errors(400, 413)}}},
        "/v1/exists_many": {"post": {"summary": "which keys are registered", "requestBody": _BATCH,
                                     "responses": {"200": {"description": "{exists: [bool]}"}, **_errors(400, 413)}}},
        "/v1/cat": {"get": {"summary": "the record's content (no ranges)",
                            "parameters": [_KEY, _query("raw", "1: whole WARC record", schema=_FLAG),
                                           _query("max_decoded", "decoded-size cap")],
                            "responses": {"200": {"description": "the content", "content": packed_out},
                                          **_errors(400, 404, 413, 500)}}},
        "/v1/mark": {"get": {"summary": "a key's dedup mark", "parameters": [_KEY],
                             "responses": {"200": {"description": "{key, mark}"}, **_errors(400)}}},
        "/v1/refresh": {"post": {"summary": "reopen the catalog now if a writer changed it",
                                 "parameters": [_query("force", "1: reopen anyway", schema=_FLAG)],
                                 "responses": {"200": {"description": "{reopened, generation, ...}"}, **_errors(400)}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "haybale catalog service", "version": _version(),
                 "description": "Query the haybale catalog over HTTP. Every endpoint but /healthz needs "
                                "'Authorization: Bearer TOKEN'. " + lim},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}] if config.token is not None else [],
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
