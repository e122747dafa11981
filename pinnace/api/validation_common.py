"""Validators shared by every kind, with upstream's exact messages.

Two layers, as in upstream's apimachinery:

- ``is_*`` functions check one string and return a list of messages (empty
  when valid), like ``k8s.io/apimachinery/pkg/util/validation``;
- ``validate_*`` functions check a part of an object and return
  ``FieldError`` lists carrying the field path, like
  ``k8s.io/apimachinery/pkg/api/validation``.

Registry strategies call these from their ``validate``; the structural checks
derived from the schema live in ``pinnace.api.schema.validation``.
Pure functions, no I/O; safe from any thread or task.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pinnace.api.schema.validation import FieldError

# -- messages and patterns (k8s.io/apimachinery/pkg/util/validation) ----------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
LABEL_VALUE_MAX = 63
C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
C_IDENTIFIER_ERR = (
    "a valid C identifier must start with alphabetic character or '_', followed by a string "
    "of alphanumeric characters or '_'"
)
ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_VAR_NAME_ERR = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit"
)
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_MAP_KEY_ERR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # bytes, keys + values

_dns1123_label = re.compile(f"^{DNS1123_LABEL_FMT}$")
_dns1123_subdomain = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_dns1035_label = re.compile(f"^{DNS1035_LABEL_FMT}$")
_qualified_name = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_label_value = re.compile(f"^{LABEL_VALUE_FMT}$")
_c_identifier = re.compile(f"^{C_IDENTIFIER_FMT}$")
_env_var_name = re.compile(f"^{ENV_VAR_NAME_FMT}$")
_config_map_key = re.compile(f"^{CONFIG_MAP_KEY_FMT}$")
_port_name_chars = re.compile("^[-a-z0-9]+$")
_port_name_letter = re.compile("[a-z]")


def empty_error() -> str:
    return "must be non-empty"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Upstream's RegexError, including its odd double space before "or"."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i > 0:
            out += " or "
        out += f"'{ex}', "
    return out + f"regex used for validation is '{fmt}')"


# -- string checks: each returns the list of problems ------------------------


def is_dns1123_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(max_len_error(DNS1123_LABEL_MAX))
    if not _dns1123_label.match(value):
        if _dns1123_subdomain.match(value):
            # a valid subdomain but not a label: since the length was checked, dots
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _dns1123_subdomain.match(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1035_LABEL_MAX:
        errs.append(max_len_error(DNS1035_LABEL_MAX))
    if not _dns1035_label.match(value):
        errs.append(regex_error(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """Label keys, annotation keys (lowercased), finalizers: ``[prefix/]name``."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _qualified_name.match(name):
        errs.append(
            "name part "
            + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(max_len_error(LABEL_VALUE_MAX))
    if not _label_value.match(value):
        errs.append(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_c_identifier(value: str) -> list[str]:
    if _c_identifier.match(value):
        return []
    return [regex_error(C_IDENTIFIER_ERR, C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName")]


def is_env_var_name(value: str) -> list[str]:
    """Container env names (upstream relaxed these from C identifiers)."""
    errs: list[str] = []
    if not _env_var_name.match(value):
        errs.append(
            regex_error(
                ENV_VAR_NAME_ERR, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"
            )
        )
    errs.extend(_has_dot_dot(value))
    return errs


def is_config_map_key(value: str) -> list[str]:
    """Keys of ConfigMap/Secret data."""
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _config_map_key.match(value):
        errs.append(
            regex_error(CONFIG_MAP_KEY_ERR, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    errs.extend(_has_dot_dot(value))
    return errs


def _has_dot_dot(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_valid_port_num(port: int) -> list[str]:
    if 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def is_valid_port_name(name: str) -> list[str]:
    """An IANA_SVC_NAME (RFC 6335): container port names, service port target names."""
    errs: list[str] = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not _port_name_chars.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _port_name_letter.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_path_segment_name(name: str) -> list[str]:
    """Every object name must also be usable as one URL path segment."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    errs = []
    for bad in ("/", "%"):
        if bad in name:
            errs.append(f"may not contain '{bad}'")
    return errs


# -- name functions (ValidateNameFunc): prefix=True checks a generateName -----

NameFunc = Callable[[str, bool], list[str]]


def mask_trailing_dash(name: str) -> str:
    """Upstream's trick for checking a generateName prefix: replace a trailing
    dash so the prefix alone passes when prefix + random suffix would."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """Names of most kinds (Pods, Deployments, ConfigMaps, ...)."""
    return is_dns1123_subdomain(mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """Namespace names and a few others."""
    return is_dns1123_label(mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """Service names."""
    return is_dns1035_label(mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    """Kinds whose names are only required to be path segments (RBAC roles...)."""
    if prefix:
        return [m for m in is_valid_path_segment_name(name) if "may not be" not in m]
    return is_valid_path_segment_name(name)


# -- generateName -------------------------------------------------------------

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's: no vowels, no 0/1/3
MAX_GENERATED_NAME_LENGTH = 63 - 5


def generate_name(base: str, rng: random.Random | None = None) -> str:
    """Upstream's SimpleNameGenerator: base (cut to 58 chars) + 5 random chars."""
    r = rng or _rng
    return base[:MAX_GENERATED_NAME_LENGTH] + "".join(r.choice(_NAME_ALPHABET) for _ in range(5))


_rng = random.Random()


# -- object parts -------------------------------------------------------------


def validate_labels(labels: Mapping[str, Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for k, v in (labels or {}).items():
        errs.extend(FieldError.invalid(path, k, m) for m in is_qualified_name(k))
        if not isinstance(v, str):
            continue  # the structural check reports the type
        errs.extend(FieldError.invalid(path, v, m) for m in is_valid_label_value(v))
    return errs


def validate_annotations(annotations: Mapping[str, Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for k, v in (annotations or {}).items():
        # the rule is QualifiedName, except that case does not matter
        errs.extend(FieldError.invalid(path, k, m) for m in is_qualified_name(k.lower()))
        total += len(k.encode()) + (len(v.encode()) if isinstance(v, str) else 0)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(FieldError.too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_finalizers(finalizers: Sequence[Any] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, f in enumerate(finalizers or ()):
        if not isinstance(f, str):
            continue
        errs.extend(FieldError.invalid(f"{path}[{i}]", f, m) for m in is_qualified_name(f))
        if f in seen:
            errs.append(FieldError.duplicate(f"{path}[{i}]", f))
        seen.add(f)
    return errs


def validate_nonnegative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [FieldError.invalid(path, value, "must be greater than or equal to 0")]
    return []


def validate_object_meta(
    meta: Mapping[str, Any] | None,
    *,
    namespaced: bool,
    name_fn: NameFunc = name_is_dns_subdomain,
    path: str = "metadata",
) -> list[FieldError]:
    """Upstream's ValidateObjectMeta: name/generateName, namespace presence,
    generation, labels, annotations, finalizers."""
    meta = meta or {}
    errs: list[FieldError] = []
    generate = meta.get("generateName") or ""
    if generate:
        errs.extend(
            FieldError.invalid(f"{path}.generateName", generate, m) for m in name_fn(generate, True)
        )
    name = meta.get("name") or ""
    if not name:
        errs.append(FieldError.required(f"{path}.name", "name or generateName is required"))
    else:
        errs.extend(FieldError.invalid(f"{path}.name", name, m) for m in name_fn(name, False))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(FieldError.required(f"{path}.namespace"))
        else:
            errs.extend(
                FieldError.invalid(f"{path}.namespace", namespace, m)
                for m in name_is_dns_label(namespace, False)
            )
    elif namespace:
        errs.append(FieldError.forbidden(f"{path}.namespace", "not allowed on this type"))
    errs.extend(validate_nonnegative(meta.get("generation"), f"{path}.generation"))
    errs.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    return errs


def validate_immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    """Upstream's ValidateImmutableField."""
    if new != old:
        return [FieldError.invalid(path, new, "field is immutable")]
    return []
