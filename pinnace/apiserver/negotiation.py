"""Content negotiation: decoding request bodies (JSON, YAML, protobuf, the
four patch types) and encoding responses (JSON, YAML; Table and
PartialObjectMetadata views chosen by the Accept header)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from aiohttp import web

from pinnace.apiserver import errors

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str) -> Any:
    """Decode a create/update body (not a patch)."""
    mt = media_type(content_type)
    if mt in ("", JSON, "application/*", "*/*", "text/plain"):
        return loads_json(raw)
    if mt in (YAML, "application/x-yaml", "text/yaml"):
        return loads_yaml(raw)
    if mt == PROTOBUF:
        from pinnace.api.schema import protobuf

        try:
            return protobuf.decode(raw)
        except Exception as e:  # a malformed body is the client's fault
            raise errors.bad_request(f"unable to decode protobuf body: {e}") from None
    raise errors.unsupported_media_type(content_type)


def loads_json(raw: bytes) -> Any:
    if not raw.strip():
        raise errors.bad_request("the body of the request was empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None


def loads_yaml(raw: bytes) -> Any:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error converting YAML to JSON: {e}") from None
    if data is None:
        raise errors.bad_request("the body of the request was empty")
    return _json_compatible(data)


def _json_compatible(v: Any) -> Any:
    """YAML may produce dates and non-string keys; make it plain JSON data."""
    if isinstance(v, dict):
        return {str(k): _json_compatible(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_compatible(x) for x in v]
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


@dataclass(slots=True)
class Accept:
    """What representation the client asked for."""

    yaml: bool = False
    table: bool = False
    partial_metadata: bool = False
    partial_metadata_list: bool = False
    protobuf_only: bool = False


def parse_accept(header: str) -> Accept:
    acc = Accept()
    if not header:
        return acc
    saw_json = False
    saw_yaml = False
    saw_any = False
    first_plain: str | None = None
    for part in header.split(","):
        segs = [s.strip() for s in part.split(";")]
        mt = segs[0].lower()
        params = {}
        for s in segs[1:]:
            if "=" in s:
                k, v = s.split("=", 1)
                params[k.strip()] = v.strip()
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            acc.table = True
            return acc
        if (
            params.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList")
            and params.get("g") == "meta.k8s.io"
        ):
            if params["as"] == "PartialObjectMetadata":
                acc.partial_metadata = True
            else:
                acc.partial_metadata_list = True
            return acc
        if mt in (JSON, "application/*", "*/*"):
            saw_json = saw_json or mt == JSON
            saw_any = saw_any or mt != JSON
            if first_plain is None:
                first_plain = "json"
        elif mt in (YAML, "application/x-yaml", "text/yaml"):
            saw_yaml = True
            if first_plain is None:
                first_plain = "yaml"
        elif mt == PROTOBUF:
            pass
    if first_plain == "yaml":
        acc.yaml = True
    elif not saw_json and not saw_any and not saw_yaml:
        acc.protobuf_only = "protobuf" in header
    return acc


def encode(
    obj: Any, accept: Accept, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    if accept.yaml:
        body = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).encode()
        return web.Response(body=body, status=status, content_type=YAML, headers=headers)
    return web.Response(body=orjson.dumps(obj), status=status, content_type=JSON, headers=headers)


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type=JSON, headers=headers)
