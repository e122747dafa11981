"""Service account tokens: signing (for TokenRequest) and validation (as a
bearer-token authenticator), with upstream's claims, key ids and messages.

Bound tokens (issuer = ``--service-account-issuer``) carry ``iss``, ``sub``
(``system:serviceaccount:NS:NAME``), ``aud``, ``exp``, ``iat``, ``nbf``,
``jti`` and the private claim ``kubernetes.io`` {namespace,
serviceaccount{name,uid}, pod|secret|node{name,uid}, warnafter}. They are
valid while signed by our key, inside their time window (one minute of
leeway, as go-jose), meant for one of the requested audiences, and while the
service account and the bound object still exist with the same uid (an
object deleted more than a minute ago counts as gone). Legacy tokens
(issuer ``kubernetes/serviceaccount``, stored in
``kubernetes.io/service-account-token`` Secrets) never expire; they are valid
while their Secret exists and holds the very same token.

Concurrency: everything here is synchronous and CPU-only (an RSA signature
check is tens of microseconds); the objects a token names are read through
the ``get_object`` callable the server passes in (its watch caches), never
from storage, so validation never waits. Key generation happens once at
start-up (``load_or_create_signing_key``), off the request path.

Why not only ``authenticate_token``: TokenReview needs to know *why* a token
was refused and for which audiences it holds, so ``review_token`` returns a
``TokenResult`` with upstream's error text; the plain protocol method wraps it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import StartupError
from pinnace.client.clock import REAL_CLOCK, Clock
from pinnace.fileutil import atomic_write

log = logging.getLogger("pinnace.apiserver.authn.serviceaccount")

Obj = dict[str, Any]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
#: (group, version, plural, namespace, name) -> the object, or None when absent
GetObject = Callable[[str, str, str, str, str], Obj | None]

KEY_FILE = "service-account.key"
LEGACY_ISSUER = "kubernetes/serviceaccount"
USERNAME_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
GROUP_PREFIX = "system:serviceaccounts:"
AUTHENTICATED_GROUP = "system:authenticated"
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"
# legacy Secret-token claim names
LEGACY_NAMESPACE = "kubernetes.io/serviceaccount/namespace"
LEGACY_SECRET_NAME = "kubernetes.io/serviceaccount/secret.name"
LEGACY_SA_NAME = "kubernetes.io/serviceaccount/service-account.name"
LEGACY_SA_UID = "kubernetes.io/serviceaccount/service-account.uid"
# the lifetime kubelets ask for on projected volumes; tokens of it are issued
# for a year and only warn (warnafter) after the hour, as upstream does
WARN_ONLY_EXPIRATION_SECONDS = 60 * 60 + 7
EXTENDED_EXPIRATION_SECONDS = 24 * 365 * 60 * 60
LEEWAY = timedelta(minutes=1)  # go-jose's DefaultLeeway

INVALIDATED = "service account token has been invalidated"
BAD_SIGNATURE = "go-jose/go-jose: error in cryptographic primitive"


def username(namespace: str, name: str) -> str:
    return f"{USERNAME_PREFIX}{namespace}:{name}"


# -- keys --------------------------------------------------------------------


def load_or_create_signing_key(pki_dir: str | os.PathLike[str]) -> PrivateKey:
    """The service-account signing key in ``pki_dir/service-account.key``
    (PEM, mode 0600), created as RSA 2048 when missing. Blocking: call once at
    start-up, before serving. Raises ``StartupError`` for an unreadable key."""
    path = Path(pki_dir) / KEY_FILE
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as e:
            raise StartupError(
                f"cannot read the service account signing key {path}: {e}; "
                "remove it to have a new one generated (existing tokens stop working)"
            ) from e
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise StartupError(
                f"the service account signing key {path} must be an RSA or ECDSA key"
            )
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = new.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    atomic_write(path, pem, mode=0o600)
    return new


_PRIVATE = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)


def key_id(public_key: PublicKey) -> str:
    """Upstream's ``kid``: unpadded base64url of SHA-256 over the public key's
    DER SubjectPublicKeyInfo (not reversible to the key)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _algorithm(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    size = key.curve.key_size
    return {256: "ES256", 384: "ES384", 521: "ES512"}.get(size, "ES256")


# -- issuing -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundRef:
    """A bound object's name and uid as the claims record it."""

    name: str
    uid: str = ""

    def claim(self) -> dict[str, str]:
        out = {"name": self.name}
        if self.uid:
            out["uid"] = self.uid
        return out


class TokenIssuer:
    """Signs bound service account tokens (TokenRequest) and legacy Secret
    tokens (the token controller), with the key's derived ``kid``."""

    def __init__(self, key: PrivateKey, issuer: str, *, clock: Clock = REAL_CLOCK) -> None:
        self.key = key
        self.issuer = issuer
        self.clock = clock
        self.algorithm = _algorithm(key)
        self.kid = key_id(key.public_key())

    def _sign(self, claims: Obj) -> str:
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid})

    def issue(
        self,
        service_account: Obj,
        *,
        audiences: Sequence[str],
        expiration_seconds: int,
        pod: BoundRef | None = None,
        secret: BoundRef | None = None,
        node: BoundRef | None = None,
        warn_after_seconds: int = 0,
    ) -> tuple[str, Obj]:
        """A signed token for the service account and its claims. A pod-bound
        token may also name the pod's node; a secret-bound one nothing else."""
        if secret is not None and (pod is not None or node is not None):
            raise ValueError("internal error, token can only be bound to one object type")
        meta = service_account.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        now = int(self.clock.wall().timestamp())
        private: Obj = {
            "namespace": ns,
            "serviceaccount": {"name": name, "uid": str(meta.get("uid") or "")},
        }
        if pod is not None:
            private["pod"] = pod.claim()
        if secret is not None:
            private["secret"] = secret.claim()
        if node is not None:
            private["node"] = node.claim()
        if warn_after_seconds:
            private["warnafter"] = now + warn_after_seconds
        claims: Obj = {
            "aud": list(audiences),
            "exp": now + expiration_seconds,
            "iat": now,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": now,
            "sub": username(ns, name),
        }
        return self._sign(claims), claims

    def issue_legacy(self, service_account: Obj, secret_name: str) -> str:
        """A legacy, non-expiring token for a ``kubernetes.io/service-account-token``
        Secret (what upstream's token controller writes into ``data.token``)."""
        meta = service_account.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        return self._sign(
            {
                "iss": LEGACY_ISSUER,
                LEGACY_NAMESPACE: ns,
                LEGACY_SECRET_NAME: secret_name,
                LEGACY_SA_NAME: name,
                LEGACY_SA_UID: str(meta.get("uid") or ""),
                "sub": username(ns, name),
            }
        )


# -- validating --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenResult:
    """What one authenticator made of a token: the user (None when refused or
    not recognised), the audiences it is valid for, and why it was refused
    (empty when this authenticator simply does not know the token)."""

    user: UserInfo | None = None
    audiences: tuple[str, ...] = ()
    error: str = ""


class TokenInvalid(Exception):
    """A token we recognise (our issuer) that is not valid; the message is
    upstream's, shown in TokenReview's status.error."""


@dataclass(slots=True)
class _Info:
    namespace: str
    name: str
    uid: str
    pod_name: str = ""
    pod_uid: str = ""
    node_name: str = ""
    node_uid: str = ""
    credential_id: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)

    def user(self) -> UserInfo:
        extra: dict[str, list[str]] = {}
        if self.pod_name and self.pod_uid:
            extra[POD_NAME_KEY] = [self.pod_name]
            extra[POD_UID_KEY] = [self.pod_uid]
        if self.credential_id:
            extra[CREDENTIAL_ID_KEY] = [self.credential_id]
        if self.node_name:
            extra[NODE_NAME_KEY] = [self.node_name]
            if self.node_uid:
                extra[NODE_UID_KEY] = [self.node_uid]
        return UserInfo(
            username(self.namespace, self.name),
            (ALL_SERVICE_ACCOUNTS_GROUP, GROUP_PREFIX + self.namespace, AUTHENTICATED_GROUP),
            self.uid,
            extra,
        )


def _go_quote_list(items: Sequence[str]) -> str:
    """Go's ``%q`` of a string slice: ``["a" "b"]``."""
    return "[" + " ".join(orjson.dumps(i).decode() for i in items) + "]"


def _unverified_payload(token: str) -> Obj | None:
    if token.lstrip().startswith("{"):
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _timestamp(v: Any) -> datetime | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return datetime.fromtimestamp(v, UTC)


def _rfc3339(v: Any) -> datetime | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None


class ServiceAccountTokenAuthenticator:
    """Validates service account JWTs signed by one of ``public_keys``.

    ``issuers``: the accepted ``iss`` values for bound tokens (the first is
    ours); ``api_audiences``: the API server's own audiences, which a token
    must name unless TokenReview asks for others; ``lookup_legacy``: accept
    legacy Secret tokens (checked against their Secret)."""

    def __init__(
        self,
        public_keys: Sequence[PublicKey | PrivateKey],
        issuers: Sequence[str],
        api_audiences: Sequence[str],
        get_object: GetObject,
        *,
        clock: Clock = REAL_CLOCK,
        legacy: bool = True,
    ) -> None:
        self.keys: dict[str, list[PublicKey]] = {}
        self.all_keys: list[PublicKey] = []
        for k in public_keys:
            pub = k.public_key() if isinstance(k, _PRIVATE) else k
            self.keys.setdefault(key_id(pub), []).append(pub)
            self.all_keys.append(pub)
        self.issuers = set(issuers)
        self.api_audiences = tuple(api_audiences)
        self.get_object = get_object
        self.clock = clock
        self.legacy = legacy

    async def authenticate_token(self, token: str) -> UserInfo | None:
        return self.review_token(token).user

    def review_token(self, token: str, audiences: Sequence[str] | None = None) -> TokenResult:
        """``audiences``: what the caller wants the token to be good for
        (TokenReview's spec.audiences); None = the API server's audiences."""
        payload = _unverified_payload(token)
        if payload is None:
            return TokenResult()
        iss = payload.get("iss")
        is_legacy = self.legacy and iss == LEGACY_ISSUER
        if not is_legacy and iss not in self.issuers:
            return TokenResult()
        try:
            claims = self._verify(token)
            if not is_legacy and claims.get("iss") not in self.issuers:
                iss_text = orjson.dumps(claims.get("iss")).decode()
                raise TokenInvalid(f"token issuer {iss_text} is invalid")
            aud = claims.get("aud")
            token_auds = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
            if not token_auds:  # legacy tokens are for the API server only
                token_auds = self.api_audiences
            requested = tuple(audiences) if audiences else self.api_audiences
            granted = tuple(a for a in token_auds if a in requested)
            if not granted and self.api_audiences:
                raise TokenInvalid(
                    f"token audiences {_go_quote_list(token_auds)} is invalid for the "
                    f"target audiences {_go_quote_list(requested)}"
                )
            if is_legacy:
                info = self._validate_legacy(token, claims)
            else:
                info = self._validate_bound(claims)
        except TokenInvalid as e:
            log.debug("service account token refused: %s", e)
            return TokenResult(error=str(e))
        return TokenResult(info.user(), granted)

    def _verify(self, token: str) -> Obj:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenInvalid("invalid signature, no keys found") from None
        kid = header.get("kid")
        keys = self.keys.get(kid, []) if isinstance(kid, str) and kid else self.all_keys
        if not keys:
            raise TokenInvalid("invalid signature, no keys found")
        errs: list[str] = []
        for key in keys:
            try:
                claims: Obj = jwt.decode(
                    token,
                    key,
                    algorithms=[_algorithm(key)],
                    options={
                        "verify_signature": True,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_aud": False,
                        "verify_iss": False,
                        "verify_sub": False,
                        "verify_jti": False,
                    },
                )
                return claims
            except jwt.InvalidSignatureError:
                errs.append(BAD_SIGNATURE)
            except jwt.PyJWTError as e:
                errs.append(str(e))
        uniq = list(dict.fromkeys(errs))
        raise TokenInvalid(uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]")

    def _get(self, plural: str, namespace: str, name: str) -> Obj | None:
        return self.get_object("", "v1", plural, namespace, name)

    def _deleted_before(self, obj: Obj, limit: datetime) -> bool:
        ts = _rfc3339((obj.get("metadata") or {}).get("deletionTimestamp"))
        return ts is not None and ts < limit

    def _validate_bound(self, claims: Obj) -> _Info:
        now = self.clock.wall()
        nbf, exp, iat = (_timestamp(claims.get(k)) for k in ("nbf", "exp", "iat"))
        if nbf is not None and now + LEEWAY < nbf:
            raise TokenInvalid("service account token is not valid yet")
        if exp is not None and now - LEEWAY > exp:
            raise TokenInvalid("service account token has expired")
        if iat is not None and now + LEEWAY < iat:
            raise TokenInvalid("service account token is issued in the future")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            private = {}
        limit = now - LEEWAY
        ns = str(private.get("namespace") or "")
        saref = private.get("serviceaccount") or {}
        sa_name, sa_uid = str(saref.get("name") or ""), str(saref.get("uid") or "")
        sa = self._get("serviceaccounts", ns, sa_name)
        if sa is None:
            raise TokenInvalid(f'serviceaccounts "{sa_name}" not found')
        actual = str((sa.get("metadata") or {}).get("uid") or "")
        if actual != sa_uid:
            raise TokenInvalid(f"service account UID ({actual}) does not match claim ({sa_uid})")
        if self._deleted_before(sa, limit):
            raise TokenInvalid(f"service account {ns}/{sa_name} has been deleted")
        info = _Info(ns, sa_name, sa_uid)
        secref, podref, noderef = (private.get(k) for k in ("secret", "pod", "node"))
        if isinstance(secref, dict):
            secret = self._get("secrets", ns, str(secref.get("name") or ""))
            if secret is None:
                raise TokenInvalid(INVALIDATED)
            uid = str((secret.get("metadata") or {}).get("uid") or "")
            if uid != str(secref.get("uid") or ""):
                raise TokenInvalid(
                    f"secret UID ({uid}) does not match service account secret ref claim "
                    f"({secref.get('uid') or ''})"
                )
            if self._deleted_before(secret, limit):
                raise TokenInvalid(INVALIDATED)
        if isinstance(podref, dict):
            pod = self._get("pods", ns, str(podref.get("name") or ""))
            if pod is None:
                raise TokenInvalid(INVALIDATED)
            uid = str((pod.get("metadata") or {}).get("uid") or "")
            if uid != str(podref.get("uid") or ""):
                raise TokenInvalid(
                    f"pod UID ({uid}) does not match service account pod ref claim "
                    f"({podref.get('uid') or ''})"
                )
            if self._deleted_before(pod, limit):
                raise TokenInvalid(INVALIDATED)
            info.pod_name, info.pod_uid = str(podref.get("name")), str(podref.get("uid"))
        if isinstance(noderef, dict):
            if isinstance(podref, dict):  # a pod-bound token only records its node
                info.node_name = str(noderef.get("name") or "")
                info.node_uid = str(noderef.get("uid") or "")
            else:
                node = self._get("nodes", "", str(noderef.get("name") or ""))
                if node is None:
                    raise TokenInvalid(INVALIDATED)
                uid = str((node.get("metadata") or {}).get("uid") or "")
                if uid != str(noderef.get("uid") or ""):
                    raise TokenInvalid(
                        f"node UID ({uid}) does not match service account node ref claim "
                        f"({noderef.get('uid') or ''})"
                    )
                if self._deleted_before(node, limit):
                    raise TokenInvalid(INVALIDATED)
                info.node_name = str(noderef.get("name") or "")
                info.node_uid = uid
        jti = claims.get("jti")
        if isinstance(jti, str) and jti:
            info.credential_id = "JTI=" + jti
        return info

    def _validate_legacy(self, token: str, claims: Obj) -> _Info:
        sub = str(claims.get("sub") or "")
        if not sub:
            raise TokenInvalid("sub claim is missing")
        ns = str(claims.get(LEGACY_NAMESPACE) or "")
        if not ns:
            raise TokenInvalid("namespace claim is missing")
        secret_name = str(claims.get(LEGACY_SECRET_NAME) or "")
        if not secret_name:
            raise TokenInvalid("secretName claim is missing")
        sa_name = str(claims.get(LEGACY_SA_NAME) or "")
        if not sa_name:
            raise TokenInvalid("serviceAccountName claim is missing")
        sa_uid = str(claims.get(LEGACY_SA_UID) or "")
        if not sa_uid:
            raise TokenInvalid("serviceAccountUID claim is missing")
        if sub != username(ns, sa_name):
            raise TokenInvalid("sub claim is invalid")
        secret = self._get("secrets", ns, secret_name)
        if secret is None or (secret.get("metadata") or {}).get("deletionTimestamp"):
            raise TokenInvalid("Token has been invalidated")
        stored = _secret_value(secret, "token")
        if not hmac.compare_digest(stored.encode(), token.encode()):
            raise TokenInvalid("Token does not match server's copy")
        sa = self._get("serviceaccounts", ns, sa_name)
        if sa is None:
            raise TokenInvalid(f'serviceaccounts "{sa_name}" not found')
        sa_meta = sa.get("metadata") or {}
        if sa_meta.get("deletionTimestamp"):
            raise TokenInvalid(f"ServiceAccount {ns}/{sa_name} has been deleted")
        actual = str(sa_meta.get("uid") or "")
        if actual != sa_uid:
            raise TokenInvalid(f"ServiceAccount UID ({actual}) does not match claim ({sa_uid})")
        return _Info(ns, sa_name, sa_uid)


def _secret_value(secret: Obj, key: str) -> str:
    """A Secret's value as text: ``data`` is base64 on the wire; ``stringData``
    when a writer left it un-merged."""
    data = secret.get("data") or {}
    if key in data and isinstance(data[key], str):
        try:
            return base64.b64decode(data[key]).decode()
        except (ValueError, UnicodeDecodeError):
            return ""
    value = (secret.get("stringData") or {}).get(key)
    return value if isinstance(value, str) else ""


# -- legacy token Secrets (the token controller's job) ------------------------

SECRET_TYPE_SA_TOKEN = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"


def populate_legacy_secret(
    issuer: TokenIssuer, service_account: Obj, secret: Obj, ca_pem: bytes
) -> Obj | None:
    """What upstream's token controller does to a ``kubernetes.io/service-account-token``
    Secret naming ``service_account``: fill in ``data.token`` (a legacy token),
    ``data["ca.crt"]``, ``data.namespace`` and the uid annotation. Returns the
    updated copy, or None when the Secret is not this account's (another uid)
    or already complete. Pure: the caller writes the result (and retries on
    conflict)."""
    if secret.get("type") != SECRET_TYPE_SA_TOKEN:
        return None
    sa_meta = service_account.get("metadata") or {}
    meta = dict(secret.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    if annotations.get(SA_NAME_ANNOTATION) != sa_meta.get("name"):
        return None
    sa_uid = str(sa_meta.get("uid") or "")
    if annotations.get(SA_UID_ANNOTATION, sa_uid) != sa_uid:
        return None
    data = dict(secret.get("data") or {})
    changed = False
    if not data.get("token"):
        token = issuer.issue_legacy(service_account, str(meta.get("name") or ""))
        data["token"] = base64.b64encode(token.encode()).decode()
        changed = True
    if not data.get("ca.crt") and ca_pem:
        data["ca.crt"] = base64.b64encode(ca_pem).decode()
        changed = True
    if not data.get("namespace"):
        data["namespace"] = base64.b64encode(str(meta.get("namespace") or "").encode()).decode()
        changed = True
    if annotations.get(SA_UID_ANNOTATION) != sa_uid:
        annotations[SA_UID_ANNOTATION] = sa_uid
        changed = True
    if not changed:
        return None
    meta["annotations"] = annotations
    return {**secret, "metadata": meta, "data": data}
