"""The generic REST storage for one resource (kubernetes ``pkg/registry``'s
generic Store): create, get, list, update, patch, delete over a storage
Backend and the resource's watch cache, with the resource's Strategy and the
admission chain deciding everything kind-specific.

Reads come from the watch cache. Every write goes to the Backend guarded by
the object's mod revision, then waits until the cache has applied that
revision, so a client always reads its own writes. Read-modify-write
operations (update without resourceVersion, patch, delete with finalizers)
retry on a storage conflict, like upstream's GuaranteedUpdate.
"""

from __future__ import annotations

import base64
import copy
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pinnace.api.conversion import converter
from pinnace.api.ids import name_suffix, new_uid
from pinnace.api.schema import Resource
from pinnace.api.schema.validation import FieldError
from pinnace.api.strategy import Strategy
from pinnace.api.validation_common import validate_annotations, validate_finalizers, validate_labels
from pinnace.apiserver import errors
from pinnace.apiserver.admission import AdmissionChain, AdmissionRequest, Operation
from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.cache import Entry, WatchCache
from pinnace.storage import Backend, ConflictError, KeyExistsError, KeyNotFoundError, KeyValue

log = logging.getLogger("pinnace.apiserver.registry")

Obj = dict[str, Any]
Mutation = Callable[[Obj], Awaitable[Obj]]

_MAX_RETRIES = 16


_RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
# the last whole second formatted: ``strftime`` costs ~6 us, and a write asks
# for the time several times (timestamps, managedFields, conditions)
_last_second: tuple[int, str] = (0, "")


def now_rfc3339(dt: datetime | None = None) -> str:
    """``dt`` (default: now) as RFC 3339 in UTC, to the second."""
    global _last_second
    if dt is not None:
        return dt.strftime(_RFC3339)
    second = int(time.time())
    if second != _last_second[0]:
        _last_second = (second, time.strftime(_RFC3339, time.gmtime(second)))
    return _last_second[1]


@dataclass(slots=True)
class RequestContext:
    user: UserInfo
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    warnings: list[str] = field(default_factory=list)
    user_agent: str = ""
    # notes admission left for the audit log (shared with the HTTP request)
    audit_annotations: dict[str, str] = field(default_factory=dict)
    # set once server-side apply recorded managedFields for this request
    applied: bool = False


@dataclass(slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # Background | Foreground | Orphan
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    orphan_dependents: bool | None = None


@dataclass(slots=True)
class ListResult:
    entries: list[Entry]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None
    # turns an entry into the object as this resource serves it
    load: Callable[[Entry], Obj] = Entry.obj

    @property
    def items(self) -> list[Obj]:
        """The objects as fresh dicts (decoded on demand)."""
        return [self.load(e) for e in self.entries]


def default_manager(user_agent: str) -> str:
    """Upstream derives the field manager from the User-Agent's first token."""
    if not user_agent:
        return "unknown"
    return user_agent.split("/", 1)[0][:128] or "unknown"


class ResourceStore:
    def __init__(
        self,
        resource: Resource,
        backend: Backend,
        cache: WatchCache,
        strategy: Strategy,
        admission: AdmissionChain,
        hooks: StoreHooks,
    ) -> None:
        self.resource = resource
        self.backend = backend
        self.cache = cache
        self.strategy = strategy
        self.admission = admission
        self.hooks = hooks
        # an encrypting backend says when a stored value is due to be written
        # again under the current key (pinnace.apiserver.encryption)
        self._stale: Callable[[str], Awaitable[bool]] | None = getattr(backend, "stale", None)
        # kinds served at a version other than the one they are stored in
        self.converts = resource.api_version != resource.storage_api_version
        if self.converts:
            self._to_storage = converter(
                resource.kind, resource.api_version, resource.storage_api_version
            )
            self._from_storage = converter(
                resource.kind, resource.storage_api_version, resource.api_version
            )

    def out(self, obj: Obj) -> Obj:
        """A stored object as this resource's version serves it."""
        return self._from_storage(obj) if self.converts else obj

    # -- keys ---------------------------------------------------------------

    def key(self, namespace: str, name: str) -> str:
        return self.resource.key(namespace if self.resource.namespaced else None, name)

    def list_prefix(self, namespace: str) -> str:
        if self.resource.namespaced and namespace:
            return f"{self.resource.key_prefix()}{namespace}/"
        return self.resource.key_prefix()

    # -- encoding -----------------------------------------------------------

    def encode(self, obj: Obj) -> bytes:
        if self.converts:
            obj = self._to_storage(obj)
        meta = obj.get("metadata")
        if meta and "resourceVersion" in meta:
            obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
        return self.hooks.encode(self.resource, orjson.dumps(obj))

    async def _store(
        self, key: str, obj: Obj, write: Callable[[bytes], Awaitable[KeyValue]]
    ) -> KeyValue:
        """Encode ``obj``, ``write`` the value, set the new resourceVersion on
        ``obj`` and wait until the cache has it (read-your-writes). The cache
        is told which object the value encodes, so it need not decode it
        again (:meth:`WatchCache.expect`); ``obj`` stays untouched meanwhile."""
        value = self.encode(obj)
        hinted = not self.converts  # else the value encodes another version
        if hinted:
            self.cache.expect(key, value, obj)
        try:
            kv = await write(value)
            obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
            await self.cache.wait_for(kv.mod_revision)
            return kv
        finally:
            if hinted:
                self.cache.forget(key, value)

    # -- reads --------------------------------------------------------------

    def load(self, entry: Entry) -> Obj:
        """A cached entry as a fresh object of this resource's version."""
        obj = entry.obj()
        return self._from_storage(obj) if self.converts else obj

    def get_entry(self, namespace: str, name: str) -> Entry:
        key = self.key(namespace, name)
        e = self.cache.get_entry(key)
        if e is None:
            if key in self.cache.unreadable:
                raise errors.internal(self.cache.unreadable[key])
            raise errors.not_found(self.resource, name)
        return e

    def get(self, namespace: str, name: str) -> Obj:
        return self.load(self.get_entry(namespace, name))

    def list_objects(
        self,
        namespace: str,
        predicate: Callable[[Entry], bool] | None = None,
        limit: int = 0,
        continue_token: str = "",
    ) -> ListResult:
        prefix = self.list_prefix(namespace)
        start_key = ""
        rv = self.cache.revision
        if continue_token:
            try:
                tok = orjson.loads(base64.urlsafe_b64decode(continue_token.encode() + b"=="))
                start_key = str(tok["start"])
                if not start_key.startswith(prefix):
                    raise ValueError("prefix")
            except Exception:
                raise errors.bad_request(
                    "continue key is not valid: the continue token is not valid"
                ) from None
        if self.cache.unreadable:
            bad = sorted(k for k in self.cache.unreadable if k.startswith(prefix))
            if bad:
                why = self.cache.unreadable[bad[0]]
                raise errors.internal(f'unable to transform key "{bad[0]}": {why}')
        keys = self.cache.list_keys(prefix, start_key)
        entries = self.cache.entries
        items: list[Entry] = []
        next_key = ""
        remaining: int | None = None
        for i, k in enumerate(keys):
            e = entries.get(k)
            if e is None or (predicate is not None and not predicate(e)):
                continue
            if limit and len(items) >= limit:
                next_key = k
                if predicate is None:
                    remaining = len(keys) - i
                break
            items.append(e)
        token = ""
        if next_key:
            token = (
                base64.urlsafe_b64encode(
                    orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": next_key})
                )
                .decode()
                .rstrip("=")
            )
        return ListResult(items, str(rv), token, remaining, self.load)

    # -- writes -------------------------------------------------------------

    async def _admit(
        self,
        op: Operation,
        namespace: str,
        name: str,
        obj: Obj | None,
        old: Obj | None,
        ctx: RequestContext,
        subresource: str = "",
        between: Callable[[bool], None] | None = None,
    ) -> None:
        """Mutating admission, then ``between`` (defaulting and validation of
        what the mutating plugins made, as upstream validates after mutating
        admission; told whether the plugins changed the object), then
        validating admission."""
        req = AdmissionRequest(
            op, self.resource, namespace, name, obj, old, ctx.user, subresource, ctx.dry_run
        )
        try:
            before = orjson.dumps(obj) if between is not None and obj is not None else b""
            await self.admission.admit(req)
            if between is not None:
                between(obj is not None and orjson.dumps(obj) != before)
            await self.admission.validate(req)
        finally:
            ctx.audit_annotations.update(req.audit_annotations)
        ctx.warnings.extend(req.warnings)

    def _check_body(self, obj: Any, namespace: str) -> Obj:
        r = self.resource
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON or YAML object")
        kind = obj.get("kind")
        api_version = obj.get("apiVersion")
        if kind is None or kind == "":
            obj["kind"] = r.kind
        if api_version is None or api_version == "":
            obj["apiVersion"] = r.api_version
        if obj["kind"] != r.kind or obj["apiVersion"] != r.api_version:
            raise errors.bad_request(
                f'{obj["kind"]} in version "{_version_of(obj["apiVersion"])}" cannot be handled as a '
                f"{r.kind}: the object's apiVersion/kind {obj['apiVersion']}/{obj['kind']} does not "
                f"match the expected {r.api_version}/{r.kind}"
            )
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if r.namespaced:
            ns = meta.get("namespace") or ""
            if ns and namespace and ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if namespace:
                meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return obj

    def _structural(self, obj: Obj, ctx: RequestContext) -> list[FieldError]:
        """Schema checks (types, unknown fields). Type errors and, under Strict,
        unknown fields are 400s like upstream's decoding errors; missing
        required fields are returned as field errors (422)."""
        type_errors, required, unknown = self.hooks.validate_structure(
            self.resource, obj, ctx.field_validation == "Strict"
        )
        if type_errors:
            raise errors.bad_request(
                f'{self.resource.kind} in version "{self.resource.version}" cannot be handled as a '
                f"{self.resource.kind}: " + "; ".join(type_errors)
            )
        if unknown:
            if ctx.field_validation == "Strict":
                raise errors.bad_request(
                    "strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown)
                )
            if ctx.field_validation == "Warn":
                ctx.warnings.extend(f'unknown field "{u}"' for u in unknown)
        return required

    def _prepare(self, obj: Obj, prepare: Callable[[], None], ctx: RequestContext) -> None:
        """Run the strategy's prepare step and the defaults. A body whose
        fields have the wrong types can trip them up: then the structural
        check explains what is wrong (400), as upstream's decoder would."""
        try:
            prepare()
            self.hooks.apply_defaults(self.resource, obj)
            self.strategy.default(obj)
        except (TypeError, AttributeError, KeyError, ValueError, IndexError):
            self._structural(obj, ctx)
            log.info("malformed %s body tripped defaulting", self.resource.kind, exc_info=True)
            raise errors.bad_request(
                f'{self.resource.kind} in version "{self.resource.version}" cannot be handled as a '
                f"{self.resource.kind}: the object has fields of the wrong type"
            ) from None

    def _default_again(self, obj: Obj, ctx: RequestContext) -> None:
        """Defaults for what mutating admission added (a plugin may add a
        volume without every defaulted field); a no-op for the rest."""
        self._prepare(obj, lambda: None, ctx)

    def _validate_meta(self, obj: Obj, *, creating: bool) -> list[FieldError]:
        meta = obj["metadata"]
        errs: list[FieldError] = []
        name = meta.get("name") or ""
        if not name:
            errs.append(FieldError.required("metadata.name", "name or generateName is required"))
        else:
            for m in self.strategy.name_errors(name):
                errs.append(FieldError.invalid("metadata.name", name, m))
        if self.resource.namespaced and not meta.get("namespace"):
            errs.append(FieldError.required("metadata.namespace"))
        errs.extend(validate_labels(meta.get("labels"), "metadata.labels"))
        errs.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
        errs.extend(validate_finalizers(meta.get("finalizers"), "metadata.finalizers"))
        return errs

    def _raise_invalid(self, name: str, errs: list[FieldError]) -> None:
        if errs:
            raise errors.invalid(self.resource, name, [e.to_cause() for e in errs])

    async def create(self, namespace: str, body: Any, ctx: RequestContext) -> Obj:
        obj = self._check_body(body, namespace)
        meta = obj["metadata"]
        # server-owned metadata
        for f in (
            "uid",
            "resourceVersion",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ):
            meta.pop(f, None)
        meta["creationTimestamp"] = now_rfc3339()
        meta["uid"] = new_uid()
        generate = meta.get("generateName") or ""
        if not meta.get("name") and generate:
            meta["name"] = generate + name_suffix()
        # like upstream: decode, default, mutating admission, validate, validating admission
        self._prepare(obj, lambda: self.strategy.prepare_for_create(obj), ctx)
        required = self._structural(obj, ctx)
        name = meta.get("name") or ""
        self._raise_invalid(name or generate, required)

        def validate(mutated: bool) -> None:
            if mutated:
                self._default_again(obj, ctx)
            errs = self._validate_meta(obj, creating=True) + self.strategy.validate(obj)
            self._raise_invalid(name or generate, errs)

        # Ownership of what the client sent (with defaults), as upstream's field
        # manager records it before mutating admission: fields that admission
        # plugins add (a service account volume, default tolerations) are no
        # writer's.
        self.hooks.track_managed_fields(self.resource, None, obj, ctx, "")
        await self._admit("CREATE", namespace, name, obj, None, ctx, between=validate)
        if ctx.dry_run:
            return obj
        for attempt in range(8):
            key = self.key(namespace, meta["name"])
            try:
                await self._store(key, obj, functools.partial(self.backend.create, key))
                break
            except KeyExistsError:
                if generate and attempt < 7 and not body_has_fixed_name(obj, generate):
                    meta["name"] = generate + name_suffix()
                    continue
                raise errors.already_exists(self.resource, meta["name"]) from None
        return obj

    async def _source(self, key: str, fresh: bool) -> tuple[Callable[[], Obj] | None, int]:
        """A loader of the current object (each call decodes a fresh dict, which
        is cheaper than deep-copying one) and its mod revision: from the cache,
        or the backend when retrying after a conflict."""
        if not fresh:
            e = self.cache.get_entry(key)
            if e is not None:
                return functools.partial(self.load, e), e.revision
            return None, 0
        kv = await self.backend.get(key)
        if kv is None:
            return None, 0
        value, rev = kv.value, kv.mod_revision

        def load() -> Obj:
            return self.out(self.cache.decode(value, rev))

        return load, rev

    async def _current(self, key: str, fresh: bool) -> tuple[Obj | None, int]:
        """The object and its mod revision (see :meth:`_source`)."""
        load, rev = await self._source(key, fresh)
        return (load() if load is not None else None), rev

    async def update(
        self,
        namespace: str,
        name: str,
        body: Any,
        ctx: RequestContext,
        subresource: str = "",
    ) -> tuple[Obj, bool]:
        """PUT. Returns (object, created)."""
        obj = self._check_body(body, namespace)
        body_name = obj["metadata"].get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        obj["metadata"]["name"] = name
        rv = obj["metadata"].get("resourceVersion") or ""
        if not rv and not self.strategy.allow_unconditional_update:
            raise errors.invalid(
                self.resource,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: 0x0: must be specified for an update",
                        "field": "metadata.resourceVersion",
                    }
                ],
            )

        async def replace(current: Obj) -> Obj:
            return copy.deepcopy(obj)

        return await self.guaranteed_update(
            namespace,
            name,
            replace,
            ctx,
            subresource=subresource,
            precondition_rv=rv,
            create_body=obj if self.strategy.allow_create_on_update and not subresource else None,
            validate_body=True,
        )

    async def guaranteed_update(
        self,
        namespace: str,
        name: str,
        mutate: Mutation,
        ctx: RequestContext,
        *,
        subresource: str = "",
        precondition_rv: str = "",
        create_body: Obj | None = None,
        validate_body: bool = False,
        on_missing: Callable[[], Awaitable[Obj]] | None = None,
    ) -> tuple[Obj, bool]:
        """Read-modify-write with retries on conflict. ``mutate`` gets a fresh
        copy of the current object and returns the desired one."""
        key = self.key(namespace, name)
        fresh = False
        for _ in range(_MAX_RETRIES):
            load, cur_rev = await self._source(key, fresh)
            if load is None:
                if on_missing is not None:
                    return await on_missing(), True
                if create_body is not None:
                    if precondition_rv:
                        raise errors.not_found(self.resource, name)
                    return await self.create(namespace, create_body, ctx), True
                raise errors.not_found(self.resource, name)
            if precondition_rv and precondition_rv != str(cur_rev):
                raise errors.conflict(self.resource, name, errors.MODIFIED)
            current = load()
            new = await mutate(load())
            if validate_body or True:
                new = self._check_body(new, namespace)
            new_meta = new["metadata"]
            new_meta["name"] = name
            # rv in the patched/put object must match if present
            new_rv = new_meta.get("resourceVersion") or ""
            if new_rv and new_rv != str(cur_rev):
                if precondition_rv or new_rv != current["metadata"].get("resourceVersion"):
                    raise errors.conflict(self.resource, name, errors.MODIFIED)
            old_meta = current["metadata"]
            if new_meta.get("uid") and new_meta["uid"] != old_meta.get("uid"):
                raise errors.conflict(
                    self.resource,
                    name,
                    f"Precondition failed: UID in precondition: {new_meta['uid']}, "
                    f"UID in object meta: {old_meta.get('uid')}",
                )
            # immutable server-owned metadata
            for f in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ):
                if f in old_meta:
                    new_meta[f] = old_meta[f]
                else:
                    new_meta.pop(f, None)
            if subresource in ("binding", "finalize"):
                # server-internal writes: the handler built exactly what to store
                errs = []
            elif subresource == "status":
                self.strategy.prepare_for_status_update(new, current)
                self.hooks.apply_defaults(self.resource, new)
                errs = self.strategy.validate_status_update(new, current)
            else:
                self._prepare(
                    new, functools.partial(self.strategy.prepare_for_update, new, current), ctx
                )
                errs = self._structural(new, ctx)
            self._raise_invalid(name, errs)

            def validate(mutated: bool, new: Obj = new, current: Obj = current) -> None:
                if subresource:
                    return  # status/binding/finalize writes were checked above
                if mutated:
                    self._default_again(new, ctx)
                errs = self._validate_meta(new, creating=False)
                errs += self.strategy.validate_update(new, current)
                self._raise_invalid(name, errs)

            new_meta = new["metadata"]  # prepare steps may replace the metadata dict
            if old_meta.get("deletionTimestamp"):
                added = set(new_meta.get("finalizers") or []) - set(
                    old_meta.get("finalizers") or []
                )
                if added:
                    raise errors.invalid(
                        self.resource,
                        name,
                        [
                            {
                                "reason": "FieldValueForbidden",
                                "message": "Forbidden: no new finalizers can be added if the object is being deleted, "
                                f"found new finalizers {sorted(added)!r}".replace("'", '"'),
                                "field": "metadata.finalizers",
                            }
                        ],
                    )
            if subresource != "binding":
                # Before mutating admission, as upstream's field manager. A
                # binding writes the pod straight to storage, past the field
                # manager: no manager owns spec.nodeName or the PodScheduled
                # condition it sets (kubernetes#127508).
                self.hooks.track_managed_fields(self.resource, current, new, ctx, subresource)
            await self._admit(
                "UPDATE", namespace, name, new, current, ctx, subresource, between=validate
            )
            if _same_object(new, current) and not (
                self._stale is not None and await self._stale(key)
            ):
                return current, False  # no-op: upstream does not write (unless stale)
            if ctx.dry_run:
                new_meta["resourceVersion"] = str(cur_rev)
                return new, False
            if (
                new_meta.get("deletionTimestamp")
                and not new_meta.get("finalizers")
                and (not new_meta.get("deletionGracePeriodSeconds"))
                and not self._lingers(new)
            ):
                # the last finalizer went away: the object is gone now
                try:
                    kv = await self.backend.delete(key, cur_rev)
                except ConflictError:
                    fresh = True
                    continue
                except KeyNotFoundError:
                    raise errors.not_found(self.resource, name) from None
                new_meta["resourceVersion"] = str(kv.mod_revision)
                await self.cache.wait_for(kv.mod_revision)
                return new, False
            try:
                await self._store(
                    key,
                    new,
                    functools.partial(self.backend.update, key, expected_mod_revision=cur_rev),
                )
            except ConflictError:
                if precondition_rv:
                    raise errors.conflict(self.resource, name, errors.MODIFIED) from None
                fresh = True
                continue
            except KeyNotFoundError:
                fresh = True
                continue
            return new, False
        raise errors.conflict(self.resource, name, "too many conflicting updates; please try again")

    def _lingers(self, obj: Obj) -> bool:
        """Kind-specific reasons to keep a deleted object (namespace finalizers)."""
        fn = getattr(self.strategy, "lingers_on_delete", None)
        return bool(fn(obj)) if fn is not None else False

    async def finalize(
        self, namespace: str, name: str, finalizers: list[str], ctx: RequestContext
    ) -> tuple[Obj, bool]:
        """The namespaces/finalize subresource: replace spec.finalizers only."""

        async def set_finalizers(current: Obj) -> Obj:
            current.setdefault("spec", {})["finalizers"] = finalizers
            return current

        return await self.guaranteed_update(
            namespace, name, set_finalizers, ctx, subresource="finalize"
        )

    async def delete(
        self, namespace: str, name: str, opts: DeleteOptions, ctx: RequestContext
    ) -> tuple[Obj, bool]:
        """Returns (object, still_present): still_present when deletion was
        only started (finalizers or a grace period)."""
        key = self.key(namespace, name)
        fresh = False
        for _ in range(_MAX_RETRIES):
            load, cur_rev = await self._source(key, fresh)
            if load is None:
                raise errors.not_found(self.resource, name)
            current = load()
            meta = current["metadata"]
            if opts.precondition_uid and opts.precondition_uid != meta.get("uid"):
                raise errors.conflict(
                    self.resource,
                    name,
                    f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                    f"UID in object meta: {meta.get('uid')}",
                )
            if opts.precondition_rv and opts.precondition_rv != str(cur_rev):
                raise errors.conflict(
                    self.resource,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {opts.precondition_rv}, "
                    f"ResourceVersion in object meta: {cur_rev}",
                )
            await self._admit("DELETE", namespace, name, None, current, ctx)
            new = load()
            nmeta = new["metadata"]
            fins = list(nmeta.get("finalizers") or [])
            policy = opts.propagation_policy
            if policy is None and opts.orphan_dependents is not None:
                policy = "Orphan" if opts.orphan_dependents else "Background"
            if policy == "Orphan" and "orphan" not in fins and not meta.get("deletionTimestamp"):
                fins.append("orphan")
            elif (
                policy == "Foreground"
                and "foregroundDeletion" not in fins
                and not meta.get("deletionTimestamp")
            ):
                fins.append("foregroundDeletion")
            if policy in ("Background", "Foreground"):
                fins = [f for f in fins if f != "orphan"]
            if policy in ("Background", "Orphan"):
                fins = [f for f in fins if f != "foregroundDeletion"]
            for f in self.strategy.finalizers_on_delete(current):
                if f not in fins:
                    fins.append(f)
            grace = self.strategy.grace_period(current, opts.grace_period_seconds)
            lingers = bool(fins) or grace > 0 or self._lingers(new)
            if meta.get("deletionTimestamp"):
                # already being deleted: a shorter grace period may hurry it up
                old_grace = meta.get("deletionGracePeriodSeconds")
                if grace == 0 and not fins and not self._lingers(new):
                    lingers = False
                elif old_grace is not None and grace < old_grace:
                    nmeta["deletionGracePeriodSeconds"] = grace
                    nmeta["deletionTimestamp"] = now_rfc3339(
                        datetime.now(UTC) + timedelta(seconds=grace)
                    )
                else:
                    if fins == list(meta.get("finalizers") or []):
                        return current, True
            if lingers:
                if fins:
                    nmeta["finalizers"] = fins
                elif "finalizers" in nmeta:
                    del nmeta["finalizers"]
                if not meta.get("deletionTimestamp"):
                    nmeta["deletionTimestamp"] = now_rfc3339(
                        datetime.now(UTC) + timedelta(seconds=grace)
                    )
                    nmeta["deletionGracePeriodSeconds"] = grace
                    self.strategy.prepare_for_delete(new)
                if ctx.dry_run:
                    return new, True
                try:
                    await self._store(
                        key,
                        new,
                        functools.partial(self.backend.update, key, expected_mod_revision=cur_rev),
                    )
                except (ConflictError, KeyNotFoundError):
                    fresh = True
                    continue
                return new, True
            if ctx.dry_run:
                return current, False
            try:
                kv = await self.backend.delete(key, cur_rev)
            except ConflictError:
                fresh = True
                continue
            except KeyNotFoundError:
                raise errors.not_found(self.resource, name) from None
            await self.cache.wait_for(kv.mod_revision)
            out = load()
            out["metadata"]["resourceVersion"] = str(kv.mod_revision)
            return out, False
        raise errors.conflict(self.resource, name, "too many conflicting deletes; please try again")


def body_has_fixed_name(obj: Obj, generate: str) -> bool:
    return not obj["metadata"]["name"].startswith(generate)


def _version_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[-1]


def _same_object(a: Obj, b: Obj) -> bool:
    """Equal apart from resourceVersion and managedFields timestamps."""

    def strip(o: Obj) -> Obj:
        m = {
            k: v
            for k, v in o.get("metadata", {}).items()
            if k not in ("resourceVersion", "managedFields")
        }
        return {**o, "metadata": m}

    return strip(a) == strip(b)


class StoreHooks:
    """The schema-derived pieces the store calls (validation, defaulting,
    managedFields tracking, at-rest encoding). Kept behind one object so the
    store itself stays generic and testable."""

    def validate_structure(
        self, resource: Resource, obj: Obj, strict: bool
    ) -> tuple[list[str], list[FieldError], list[str]]:
        """(type errors, missing-required field errors, unknown field paths)."""
        return [], [], []

    def apply_defaults(self, resource: Resource, obj: Obj) -> None:
        pass

    def track_managed_fields(
        self, resource: Resource, old: Obj | None, new: Obj, ctx: RequestContext, subresource: str
    ) -> None:
        pass

    def encode(self, resource: Resource, data: bytes) -> bytes:
        return data

    def decode(self, resource: Resource, data: bytes) -> bytes:
        return data
