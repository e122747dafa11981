"""Kubernetes protobuf bodies <-> JSON dicts, driven by the schema's ``proto``
field numbers.

kubectl's ``create deployment|configmap|secret|...`` send
``application/vnd.kubernetes.protobuf``: the 4 bytes ``k8s\\x00``, then a
``runtime.Unknown`` message {1: TypeMeta{1 apiVersion, 2 kind}, 2 raw,
3 contentEncoding, 4 contentType} whose ``raw`` is the kind's own message
(field numbers from upstream's ``generated.proto``, which the kind modules copy
into ``Field.proto``).

The wire format is hand-written here on purpose: decoding is driven by our own
schema, so generated classes would only duplicate the declarations (and the
``protobuf`` runtime cannot read a message without its descriptor). What it
takes is four wire types and a handful of well-known messages:

- ``Quantity`` {1 string}; ``Duration`` {1 int64 nanoseconds} -> ``"1h2m3s"``;
- ``Time``/``MicroTime`` {1 seconds, 2 nanos} -> RFC 3339 (``MicroTime`` with
  6 fractional digits); the zero time (year 1) -> omitted, as JSON's null;
- ``IntOrString`` {1 type (0 int, 1 string), 2 intVal, 3 strVal};
- ``object`` (RawExtension, JSON) {1 raw bytes}: parsed JSON (or a nested
  protobuf object);
- ``map<string,T>``: repeated entries {1 key, 2 value}; ``map[string][]T``
  values are messages {1 repeated T} (upstream's ``ExtraValue`` shape);
- fields flattened from an inline Go struct that protobuf keeps nested
  (``Field.proto_embed``).

Go's protobuf marshaller writes every non-pointer scalar, zero or not, where
its JSON would omit the zero (``omitempty``); the decoder therefore drops
zero scalars (``""``, ``0``, ``false``) unless the field is a pointer
(``Field.pointer``; undeclared, a number or bool with a non-zero default
counts as one) or required, so a decoded body equals what the same command
sends as JSON. Empty nested structs stay ``{}`` as in Go's JSON.
"""

from __future__ import annotations

import base64
import struct as _struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pinnace.api.schema.types import CORE, META, REGISTRY, Field, SchemaRegistry, Struct, TypeRef

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# wire types
VARINT, I64, LEN, I32 = 0, 1, 2, 5
_ZERO_TIME_SECONDS = -62135596800  # time.Time{}.Unix(): 0001-01-01T00:00:00Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ProtobufError(ValueError):
    """The body is not a protobuf object we can read."""


# -- wire primitives ----------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Split a message into (field number, wire type, value) triples; a LEN
    value is a ``bytes`` slice, the others ints (I64/I32 as raw unsigned)."""
    out: list[tuple[int, int, Any]] = []
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        v: Any
        if wt == VARINT:
            v, pos = _varint(buf, pos)
        elif wt == LEN:
            length, pos = _varint(buf, pos)
            if pos + length > n:
                raise ProtobufError("truncated length-delimited field")
            v = buf[pos : pos + length]
            pos += length
        elif wt == I64:
            if pos + 8 > n:
                raise ProtobufError("truncated 64-bit field")
            v = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wt == I32:
            if pos + 4 > n:
                raise ProtobufError("truncated 32-bit field")
            v = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wt} (field {num})")
        if num == 0:
            raise ProtobufError("field number 0")
        out.append((num, wt, v))
    return out


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _enc_varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64  # negative ints are 10-byte two's complement varints
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num: int, wt: int) -> bytes:
    return _enc_varint((num << 3) | wt)


def _len_field(num: int, payload: bytes) -> bytes:
    return _key(num, LEN) + _enc_varint(len(payload)) + payload


# -- well-known values ----------------------------------------------------------


def format_go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String()``: ``1h2m3.5s``, ``150ms``, ``0s``."""
    if nanos == 0:
        return "0s"
    neg = nanos < 0
    u = -nanos if neg else nanos
    sign = "-" if neg else ""
    if u < 1_000_000_000:
        for unit, size in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if u < size * 1000:
                return sign + _frac(u, size) + unit
    secs_total, frac_ns = divmod(u, 1_000_000_000)
    h, rem = divmod(secs_total, 3600)
    m, s = divmod(rem, 60)
    sec = _frac(s * 1_000_000_000 + frac_ns, 1_000_000_000) + "s"
    if h:
        return f"{sign}{h}h{m}m{sec}"
    if m:
        return f"{sign}{m}m{sec}"
    return sign + sec


def _frac(v: int, size: int) -> str:
    whole, frac = divmod(v, size)
    if not frac:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}.{str(frac).rjust(width, '0').rstrip('0')}"


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string (``1h30m``, ``-1.5s``, ``300ms``)."""
    units = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000}
    units |= {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    s = text.strip()
    neg = s.startswith("-")
    s = s.lstrip("+-")
    if s == "0":
        return 0
    total = 0.0
    i = 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        if j == i:
            raise ValueError(f"invalid duration {text!r}")
        num = float(s[i:j])
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        unit = s[j:k]
        if unit not in units:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        total += num * units[unit]
        i = k
    return -round(total) if neg else round(total)


def format_time(seconds: int, nanos: int, micro: bool) -> str | None:
    if seconds == _ZERO_TIME_SECONDS and nanos == 0:
        return None
    t = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> tuple[int, int]:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    delta = t - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    return seconds, delta.microseconds * 1000


# -- per-struct field tables ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Table:
    by_number: dict[int, Field]  # direct fields
    embeds: dict[int, dict[int, Field]]  # sub-message number -> its fields


_tables: dict[int, tuple[Struct, _Table]] = {}


def _table(s: Struct) -> _Table:
    hit = _tables.get(id(s))
    if hit is not None and hit[0] is s:
        return hit[1]
    direct: dict[int, Field] = {}
    embeds: dict[int, dict[int, Field]] = {}
    for f in s.fields.values():
        if not f.proto:
            continue
        if f.proto_embed:
            embeds.setdefault(f.proto_embed, {})[f.proto] = f
        else:
            direct[f.proto] = f
    t = _Table(direct, embeds)
    _tables[id(s)] = (s, t)
    return t


# -- decoding -------------------------------------------------------------------


class _Decoder:
    __slots__ = ("registry",)

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def message(self, buf: bytes, s: Struct) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self._fill(out, buf, _table(s).by_number, _table(s))
        return out

    def _fill(
        self, out: dict[str, Any], buf: bytes, numbers: dict[int, Field], table: _Table | None
    ) -> None:
        for num, wt, raw in _fields(buf):
            f = numbers.get(num)
            if f is None:
                if table is not None and num in table.embeds and wt == LEN:
                    self._fill(out, raw, table.embeds[num], None)
                continue  # unknown field number: skip, like upstream
            t = f.type
            if t.kind == "list":
                assert t.item is not None
                items = out.setdefault(f.name, [])
                items.extend(self.repeated(raw, wt, t.item))
            elif t.kind == "map":
                assert t.item is not None
                if wt != LEN:
                    raise ProtobufError(f"map field {f.name} with wire type {wt}")
                k, v = self.entry(raw, t.item)
                out.setdefault(f.name, {})[k] = v
            else:
                v = self.single(raw, wt, t)
                if v is _DROP or (_is_zero(v, t) and not _keeps_zero(f)):
                    out.pop(f.name, None)
                    continue
                out[f.name] = v

    def repeated(self, raw: Any, wt: int, item: TypeRef) -> list[Any]:
        # packed numbers arrive as one LEN field; everything else one per element
        if wt == LEN and item.kind == "primitive" and item.name in _NUMERIC:
            vals: list[Any] = []
            pos = 0
            while pos < len(raw):
                if item.name == "double":
                    vals.append(_struct.unpack_from("<d", raw, pos)[0])
                    pos += 8
                else:
                    v, pos = _varint(raw, pos)
                    vals.append(_scalar(v, item.name))
            return vals
        v = self.single(raw, wt, item)
        return [None if v is _DROP else v]

    def entry(self, raw: bytes, item: TypeRef) -> tuple[str, Any]:
        key = ""
        value: Any = _DROP
        for num, wt, v in _fields(raw):
            if num == 1 and wt == LEN:
                key = v.decode()
            elif num == 2:
                value = self.single(v, wt, item)
        if value is _DROP:
            value = _zero(item)
        return key, value

    def single(self, raw: Any, wt: int, t: TypeRef) -> Any:
        kind = t.kind
        if kind == "struct":
            _want(wt, LEN, t)
            return self.message(raw, self.registry.get(t.name))
        if kind == "list" or kind == "map":
            # a list or map nested in a list/map value: wrapped in a message {1: ...}
            _want(wt, LEN, t)
            assert t.item is not None
            if kind == "list":
                vals: list[Any] = []
                for num, iwt, v in _fields(raw):
                    if num == 1:
                        vals.extend(self.repeated(v, iwt, t.item))
                return vals
            m: dict[str, Any] = {}
            for num, _iwt, v in _fields(raw):
                if num == 1:
                    k, x = self.entry(v, t.item)
                    m[k] = x
            return m
        name = t.name
        if name == "string":
            _want(wt, LEN, t)
            return raw.decode()
        if name in _NUMERIC:
            if name == "double":
                if wt == I64:
                    return _struct.unpack("<d", raw.to_bytes(8, "little"))[0]
                raise ProtobufError(f"double with wire type {wt}")
            _want(wt, VARINT, t)
            return _scalar(raw, name)
        if name == "bytes":
            _want(wt, LEN, t)
            return base64.b64encode(raw).decode()
        _want(wt, LEN, t)
        if name == "Quantity":
            for num, iwt, v in _fields(raw):
                if num == 1 and iwt == LEN:
                    return v.decode()
            return "0"
        if name == "Time" or name == "MicroTime":
            seconds = nanos = 0
            for num, iwt, v in _fields(raw):
                if num == 1 and iwt == VARINT:
                    seconds = _signed64(v)
                elif num == 2 and iwt == VARINT:
                    nanos = _signed32(v)
            text = format_time(seconds, nanos, name == "MicroTime")
            return _DROP if text is None else text
        if name == "IntOrString":
            typ, ival, sval = 0, 0, ""
            for num, iwt, v in _fields(raw):
                if num == 1 and iwt == VARINT:
                    typ = _signed64(v)
                elif num == 2 and iwt == VARINT:
                    ival = _signed32(v)
                elif num == 3 and iwt == LEN:
                    sval = v.decode()
            return sval if typ == 1 else ival
        if name == "Duration":
            nanos = 0
            for num, iwt, v in _fields(raw):
                if num == 1 and iwt == VARINT:
                    nanos = _signed64(v)
            return format_go_duration(nanos)
        if name == "object":
            data = b""
            for num, iwt, v in _fields(raw):
                if num == 1 and iwt == LEN:
                    data = v
            if not data:
                return _DROP
            if data.startswith(MAGIC):
                return decode(data, registry=self.registry)
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError as e:
                raise ProtobufError(f"embedded object is not JSON: {e}") from None
        raise ProtobufError(f"cannot decode type {name}")


class _Drop:
    pass


_DROP: Any = _Drop()  # "no value" (zero Time, empty RawExtension)
_NUMERIC = frozenset({"int32", "int64", "bool", "double"})


def _want(wt: int, expected: int, t: TypeRef) -> None:
    if wt != expected:
        raise ProtobufError(f"{t} with wire type {wt}")


def _scalar(v: int, name: str) -> Any:
    if name == "bool":
        return v != 0
    if name == "int32":
        return _signed32(v)
    return _signed64(v)


def _keeps_zero(f: Field) -> bool:
    """Whether an explicit zero of ``f`` is meaningful: pointers and required
    fields. Undeclared pointer-ness is guessed: numbers and bools with a
    non-zero default are pointers upstream (``replicas``,
    ``terminationGracePeriodSeconds``, ``enableServiceLinks``); strings never
    are guessed, since Go writes every non-pointer string."""
    if f.pointer is not None:
        return f.pointer or f.required
    if f.required:
        return True
    return (
        f.type.kind == "primitive"
        and f.type.name in _NUMERIC
        and f.default is not None
        and f.default is not False
        and f.default != 0
    )


def _is_zero(v: Any, t: TypeRef) -> bool:
    if t.kind != "primitive":
        return False
    return v == "" or v is False or (v == 0 and not isinstance(v, str))


def _zero(t: TypeRef) -> Any:
    if t.kind == "struct" or t.kind == "map":
        return {}
    if t.kind == "list":
        return []
    return {
        "string": "",
        "bool": False,
        "int32": 0,
        "int64": 0,
        "double": 0.0,
        "bytes": "",
        "Quantity": "0",
        "IntOrString": 0,
        "Duration": "0s",
    }.get(t.name)


def decode_message(
    raw: bytes, struct_name: str, *, registry: SchemaRegistry = REGISTRY
) -> dict[str, Any]:
    """Decode one message (no envelope) of struct ``struct_name``."""
    return _Decoder(registry).message(raw, registry.get(struct_name))


def split_envelope(data: bytes) -> tuple[str, str, bytes]:
    """``(apiVersion, kind, raw)`` from a ``k8s\\x00`` + runtime.Unknown body."""
    if not data.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf prefix")
    api_version = kind = encoding = ""
    raw = b""
    for num, wt, v in _fields(data[len(MAGIC) :]):
        if wt != LEN:
            continue
        if num == 1:
            for tnum, twt, tv in _fields(v):
                if twt == LEN and tnum == 1:
                    api_version = tv.decode()
                elif twt == LEN and tnum == 2:
                    kind = tv.decode()
        elif num == 2:
            raw = v
        elif num == 3:
            encoding = v.decode()
    if encoding:
        raise ProtobufError(f"unsupported contentEncoding {encoding!r}")
    return api_version, kind, raw


def decode(data: bytes, *, registry: SchemaRegistry = REGISTRY) -> dict[str, Any]:
    """A protobuf request body as the JSON dict the same client would have sent
    (``apiVersion`` and ``kind`` first). Raises ``ProtobufError`` for malformed
    bodies and kinds with no declared struct."""
    api_version, kind, raw = split_envelope(data)
    s = struct_for_kind(api_version, kind, registry=registry)
    if s is None:
        raise ProtobufError(f"no schema for {kind} in {api_version or 'v1'}")
    body = _Decoder(registry).message(raw, s)
    return {"apiVersion": api_version, "kind": kind, **body}


def struct_for_kind(
    api_version: str, kind: str, *, registry: SchemaRegistry = REGISTRY
) -> Struct | None:
    """The struct declaring ``kind`` of ``api_version``: a served resource's
    schema, else a struct carrying that GVK, else upstream's package naming
    (``io.k8s.api.<group prefix>.<version>.<Kind>``, meta kinds in meta/v1)."""
    group, _, version = api_version.rpartition("/")
    registry.resolve()
    if registry is REGISTRY:
        from pinnace.api.resources import catalog  # late: the catalog imports kinds

        r = catalog().by_kind(group, version, kind)
        if r is not None and r.schema in registry.structs:
            return registry.structs[r.schema]
    for s in registry.structs.values():
        if s.gvk == (group, version, kind):
            return s
    package = CORE if not group else f"io.k8s.api.{group.split('.')[0]}.{version}"
    for candidate in (f"{package}.{kind}", f"{META}.{kind}"):
        found = registry.structs.get(candidate)
        if found is not None:
            return found
    return None


# -- encoding -------------------------------------------------------------------


class _Encoder:
    __slots__ = ("registry",)

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def message(self, obj: dict[str, Any], s: Struct) -> bytes:
        parts: list[tuple[int, bytes]] = []
        embedded: dict[int, list[tuple[int, bytes]]] = {}
        for name, value in obj.items():
            f = s.fields.get(name)
            if f is None or not f.proto or value is None:
                continue
            enc = self.field(f, value)
            if f.proto_embed:
                embedded.setdefault(f.proto_embed, []).append((f.proto, enc))
            else:
                parts.append((f.proto, enc))
        for num, sub in embedded.items():
            sub.sort(key=lambda p: p[0])
            parts.append((num, _len_field(num, b"".join(b for _, b in sub))))
        parts.sort(key=lambda p: p[0])  # gogo writes fields in number order
        return b"".join(b for _, b in parts)

    def field(self, f: Field, value: Any) -> bytes:
        t = f.type
        if t.kind == "list":
            assert t.item is not None
            return b"".join(self.single(f.proto, x, t.item) for x in value)
        if t.kind == "map":
            assert t.item is not None
            return b"".join(
                _len_field(f.proto, self.entry(k, value[k], t.item)) for k in sorted(value)
            )
        return self.single(f.proto, value, t)

    def entry(self, key: str, value: Any, item: TypeRef) -> bytes:
        return _len_field(1, key.encode()) + self.single(2, value, item)

    def single(self, num: int, v: Any, t: TypeRef) -> bytes:
        if t.kind == "struct":
            return _len_field(num, self.message(v, self.registry.get(t.name)))
        if t.kind == "list":
            assert t.item is not None
            return _len_field(num, b"".join(self.single(1, x, t.item) for x in v))
        if t.kind == "map":
            assert t.item is not None
            inner = b"".join(_len_field(1, self.entry(k, v[k], t.item)) for k in sorted(v))
            return _len_field(num, inner)
        name = t.name
        if name == "string":
            return _len_field(num, str(v).encode())
        if name == "bool":
            return _key(num, VARINT) + _enc_varint(1 if v else 0)
        if name in ("int32", "int64"):
            return _key(num, VARINT) + _enc_varint(int(v))
        if name == "double":
            return _key(num, I64) + _struct.pack("<d", float(v))
        if name == "bytes":
            return _len_field(num, base64.b64decode(v))
        if name == "Quantity":
            return _len_field(num, _len_field(1, str(v).encode()))
        if name == "Time" or name == "MicroTime":
            seconds, nanos = parse_time(v)
            inner = _key(1, VARINT) + _enc_varint(seconds)
            if nanos:
                inner += _key(2, VARINT) + _enc_varint(nanos)
            return _len_field(num, inner)
        if name == "IntOrString":
            if isinstance(v, str):
                inner = (
                    _key(1, VARINT)
                    + _enc_varint(1)
                    + _key(2, VARINT)
                    + _enc_varint(0)
                    + _len_field(3, v.encode())
                )
            else:
                inner = (
                    _key(1, VARINT)
                    + _enc_varint(0)
                    + _key(2, VARINT)
                    + _enc_varint(int(v))
                    + _len_field(3, b"")
                )
            return _len_field(num, inner)
        if name == "Duration":
            return _len_field(num, _key(1, VARINT) + _enc_varint(parse_go_duration(v)))
        if name == "object":
            return _len_field(num, _len_field(1, orjson.dumps(v)))
        raise ProtobufError(f"cannot encode type {name}")


def encode(obj: dict[str, Any], struct_name: str, *, registry: SchemaRegistry = REGISTRY) -> bytes:
    """The message bytes (no envelope) of ``obj`` as struct ``struct_name``.
    Absent and null fields are not written; fields without a proto number
    (``apiVersion``, ``kind``) never are."""
    return _Encoder(registry).message(obj, registry.get(struct_name))


def wrap(api_version: str, kind: str, raw: bytes) -> bytes:
    """``k8s\\x00`` + runtime.Unknown around a message, as client-go writes it
    (empty contentEncoding and contentType fields included)."""
    type_meta = _len_field(1, api_version.encode()) + _len_field(2, kind.encode())
    unknown = (
        _len_field(1, type_meta) + _len_field(2, raw) + _len_field(3, b"") + _len_field(4, b"")
    )
    return MAGIC + unknown


def encode_object(obj: dict[str, Any], *, registry: SchemaRegistry = REGISTRY) -> bytes:
    """A whole protobuf body for ``obj`` (its ``apiVersion``/``kind`` choose the struct)."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    s = struct_for_kind(api_version, kind, registry=registry)
    if s is None:
        raise ProtobufError(f"no schema for {kind} in {api_version or 'v1'}")
    return wrap(api_version, kind, _Encoder(registry).message(obj, s))
