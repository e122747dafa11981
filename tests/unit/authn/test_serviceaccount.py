"""Service account JWTs: issuing with upstream's claims and kid, and every
way validation refuses a token (with upstream's messages)."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pinnace.apiserver.authn.serviceaccount import (
    BAD_SIGNATURE,
    LEGACY_ISSUER,
    BoundRef,
    ServiceAccountTokenAuthenticator,
    TokenIssuer,
    key_id,
    load_or_create_signing_key,
    populate_legacy_secret,
)
from pinnace.apiserver.errors import StartupError
from pinnace.client.clock import FakeClock

ISSUER = "https://kubernetes.default.svc.cluster.local"
Obj = dict[str, Any]


def _meta(name: str, uid: str, namespace: str = "", **extra: Any) -> Obj:
    m: Obj = {"name": name, "uid": uid, **extra}
    if namespace:
        m["namespace"] = namespace
    return m


class Objects:
    """A fake watch cache: (plural, namespace, name) -> object."""

    def __init__(self) -> None:
        self.objs: dict[tuple[str, str, str], Obj] = {}

    def put(self, plural: str, obj: Obj) -> Obj:
        m = obj["metadata"]
        self.objs[(plural, m.get("namespace", ""), m["name"])] = obj
        return obj

    def delete(self, plural: str, namespace: str, name: str) -> None:
        del self.objs[(plural, namespace, name)]

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> Obj | None:
        assert (group, version) == ("", "v1")
        return self.objs.get((plural, namespace, name))


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def env(
    key: rsa.RSAPrivateKey,
) -> tuple[Objects, FakeClock, TokenIssuer, ServiceAccountTokenAuthenticator]:
    objs = Objects()
    clock = FakeClock()
    objs.put("serviceaccounts", {"metadata": _meta("build", "sa-1", "ci")})
    objs.put("pods", {"metadata": _meta("runner", "pod-1", "ci"), "spec": {"nodeName": "n1"}})
    issuer = TokenIssuer(key, ISSUER, clock=clock)
    auth = ServiceAccountTokenAuthenticator([key], [ISSUER], [ISSUER], objs.get, clock=clock)
    return objs, clock, issuer, auth


def _sa(objs: Objects) -> Obj:
    return objs.objs[("serviceaccounts", "ci", "build")]


def test_issued_claims_follow_upstream(env: Any, key: rsa.RSAPrivateKey) -> None:
    objs, clock, issuer, _ = env
    token, claims = issuer.issue(
        _sa(objs),
        audiences=["api"],
        expiration_seconds=600,
        pod=BoundRef("runner", "pod-1"),
        node=BoundRef("n1", "node-1"),
        warn_after_seconds=3607,
    )
    header = jwt.get_unverified_header(token)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected_kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert header == {"alg": "RS256", "kid": expected_kid, "typ": "JWT"}
    assert key_id(key.public_key()) == expected_kid
    now = int(clock.wall().timestamp())
    payload = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        options={
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
            "verify_aud": False,
        },
    )
    assert payload == claims
    assert payload["iss"] == ISSUER
    assert payload["sub"] == "system:serviceaccount:ci:build"
    assert payload["aud"] == ["api"]
    assert (payload["iat"], payload["nbf"], payload["exp"]) == (now, now, now + 600)
    assert len(payload["jti"]) == 36
    assert payload["kubernetes.io"] == {
        "namespace": "ci",
        "serviceaccount": {"name": "build", "uid": "sa-1"},
        "pod": {"name": "runner", "uid": "pod-1"},
        "node": {"name": "n1", "uid": "node-1"},
        "warnafter": now + 3607,
    }


def test_a_token_bound_to_a_secret_cannot_also_name_a_pod(env: Any) -> None:
    objs, _, issuer, _ = env
    with pytest.raises(ValueError, match="only be bound to one object type"):
        issuer.issue(
            _sa(objs),
            audiences=[ISSUER],
            expiration_seconds=600,
            pod=BoundRef("p", "u"),
            secret=BoundRef("s", "u"),
        )


async def test_valid_pod_bound_token_authenticates_as_the_service_account(env: Any) -> None:
    objs, _, issuer, auth = env
    token, claims = issuer.issue(
        _sa(objs),
        audiences=[ISSUER],
        expiration_seconds=3600,
        pod=BoundRef("runner", "pod-1"),
        node=BoundRef("n1", "node-1"),
    )
    user = await auth.authenticate_token(token)
    assert user is not None
    assert user.name == "system:serviceaccount:ci:build"
    assert user.uid == "sa-1"
    assert user.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:ci",
        "system:authenticated",
    )
    assert user.extra == {
        "authentication.kubernetes.io/pod-name": ["runner"],
        "authentication.kubernetes.io/pod-uid": ["pod-1"],
        "authentication.kubernetes.io/credential-id": ["JTI=" + claims["jti"]],
        "authentication.kubernetes.io/node-name": ["n1"],
        "authentication.kubernetes.io/node-uid": ["node-1"],
    }
    result = auth.review_token(token)
    assert result.audiences == (ISSUER,) and result.error == ""


async def test_expired_token_is_refused(env: Any) -> None:
    objs, clock, issuer, auth = env
    token, _ = issuer.issue(_sa(objs), audiences=[ISSUER], expiration_seconds=600)
    await clock.advance(600 + 30)  # inside the minute of leeway
    assert await auth.authenticate_token(token) is not None
    await clock.advance(31)
    result = auth.review_token(token)
    assert result.user is None
    assert result.error == "service account token has expired"


async def test_token_from_the_future_is_not_valid_yet(env: Any, key: rsa.RSAPrivateKey) -> None:
    objs, clock, _, auth = env
    ahead = FakeClock(wall_start=clock.wall() + timedelta(minutes=5))
    token, _ = TokenIssuer(key, ISSUER, clock=ahead).issue(
        _sa(objs), audiences=[ISSUER], expiration_seconds=3600
    )
    assert auth.review_token(token).error == "service account token is not valid yet"


def test_wrong_audience_is_refused_with_upstreams_message(env: Any) -> None:
    objs, _, issuer, auth = env
    token, _ = issuer.issue(_sa(objs), audiences=["vault"], expiration_seconds=600)
    result = auth.review_token(token)
    assert result.user is None
    assert result.error == (
        f'token audiences ["vault"] is invalid for the target audiences ["{ISSUER}"]'
    )
    # a TokenReview asking for the token's own audience accepts it
    ok = auth.review_token(token, ["vault", "other"])
    assert ok.user is not None and ok.audiences == ("vault",)


def test_tampered_payload_fails_the_signature(env: Any) -> None:
    objs, _, issuer, auth = env
    token, _ = issuer.issue(_sa(objs), audiences=[ISSUER], expiration_seconds=600)
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = raw.replace(b'"build"', b'"admin"')
    assert forged != raw
    bad = ".".join([head, base64.urlsafe_b64encode(forged).rstrip(b"=").decode(), sig])
    result = auth.review_token(bad)
    assert result.user is None and result.error == BAD_SIGNATURE


def test_flipped_signature_is_refused(env: Any) -> None:
    objs, _, issuer, auth = env
    token, _ = issuer.issue(_sa(objs), audiences=[ISSUER], expiration_seconds=600)
    head, payload, sig = token.split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert auth.review_token(".".join([head, payload, flipped])).error == BAD_SIGNATURE


def test_token_signed_by_another_key_is_refused(env: Any) -> None:
    objs, _, _, auth = env
    other = ec.generate_private_key(ec.SECP256R1())
    token, _ = TokenIssuer(other, ISSUER).issue(
        _sa(objs), audiences=[ISSUER], expiration_seconds=600
    )
    assert auth.review_token(token).error == "invalid signature, no keys found"
    # without a kid header every key is tried, and none verifies it
    claims = jwt.decode(token, options={"verify_signature": False})
    no_kid = jwt.encode(claims, other, algorithm="ES256")
    assert auth.review_token(no_kid).user is None
    assert auth.review_token(no_kid).error != ""


def test_foreign_issuers_and_garbage_are_not_ours(env: Any, key: rsa.RSAPrivateKey) -> None:
    objs, _, _, auth = env
    token, _ = TokenIssuer(key, "https://elsewhere").issue(
        _sa(objs), audiences=[ISSUER], expiration_seconds=600
    )
    for t in (token, "not-a-jwt", "a.b.c", '{"iss": "x"}'):
        result = auth.review_token(t)
        assert result.user is None and result.error == ""


async def test_deleted_service_account_invalidates_the_token(env: Any) -> None:
    objs, _, issuer, auth = env
    token, _ = issuer.issue(_sa(objs), audiences=[ISSUER], expiration_seconds=600)
    objs.delete("serviceaccounts", "ci", "build")
    assert await auth.authenticate_token(token) is None
    assert auth.review_token(token).error == 'serviceaccounts "build" not found'


def test_recreated_service_account_has_a_new_uid(env: Any) -> None:
    objs, _, issuer, auth = env
    token, _ = issuer.issue(_sa(objs), audiences=[ISSUER], expiration_seconds=600)
    objs.put("serviceaccounts", {"metadata": _meta("build", "sa-2", "ci")})
    assert auth.review_token(token).error == (
        "service account UID (sa-2) does not match claim (sa-1)"
    )


async def test_deleted_or_replaced_pod_invalidates_the_token(env: Any) -> None:
    objs, clock, issuer, auth = env
    token, _ = issuer.issue(
        _sa(objs), audiences=[ISSUER], expiration_seconds=3600, pod=BoundRef("runner", "pod-1")
    )
    pod = objs.objs[("pods", "ci", "runner")]
    # being deleted gracefully: still valid for the first minute, as upstream
    pod["metadata"]["deletionTimestamp"] = clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await auth.authenticate_token(token) is not None
    await clock.advance(61)
    assert auth.review_token(token).error == "service account token has been invalidated"
    objs.put("pods", {"metadata": _meta("runner", "pod-2", "ci")})
    assert auth.review_token(token).error == (
        "pod UID (pod-2) does not match service account pod ref claim (pod-1)"
    )
    objs.delete("pods", "ci", "runner")
    assert auth.review_token(token).error == "service account token has been invalidated"


def test_secret_and_node_bound_tokens_follow_their_objects(env: Any) -> None:
    objs, _, issuer, auth = env
    objs.put("secrets", {"metadata": _meta("s", "sec-1", "ci")})
    objs.put("nodes", {"metadata": _meta("n1", "node-1")})
    t_secret, _ = issuer.issue(
        _sa(objs), audiences=[ISSUER], expiration_seconds=600, secret=BoundRef("s", "sec-1")
    )
    t_node, _ = issuer.issue(
        _sa(objs), audiences=[ISSUER], expiration_seconds=600, node=BoundRef("n1", "node-1")
    )
    user = auth.review_token(t_node).user
    assert user is not None
    assert user.extra["authentication.kubernetes.io/node-name"] == ["n1"]
    assert auth.review_token(t_secret).user is not None
    objs.put("secrets", {"metadata": _meta("s", "sec-9", "ci")})
    assert auth.review_token(t_secret).error == (
        "secret UID (sec-9) does not match service account secret ref claim (sec-1)"
    )
    objs.delete("nodes", "", "n1")
    assert auth.review_token(t_node).error == "service account token has been invalidated"


def _legacy_secret(token: str) -> Obj:
    return {
        "metadata": _meta("build-token", "sec-1", "ci"),
        "type": "kubernetes.io/service-account-token",
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }


def test_legacy_secret_tokens(env: Any) -> None:
    objs, _, issuer, auth = env
    token = issuer.issue_legacy(_sa(objs), "build-token")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == LEGACY_ISSUER and "exp" not in claims
    assert claims["kubernetes.io/serviceaccount/secret.name"] == "build-token"
    assert auth.review_token(token).error == "Token has been invalidated"  # no Secret yet
    objs.put("secrets", _legacy_secret(token))
    result = auth.review_token(token)
    assert result.user is not None
    assert result.user.name == "system:serviceaccount:ci:build"
    assert result.audiences == (ISSUER,)
    objs.put("secrets", _legacy_secret(issuer.issue_legacy(_sa(objs), "other")))
    assert auth.review_token(token).error == "Token does not match server's copy"
    objs.put("secrets", _legacy_secret(token))
    objs.put("serviceaccounts", {"metadata": _meta("build", "sa-2", "ci")})
    assert auth.review_token(token).error == "ServiceAccount UID (sa-2) does not match claim (sa-1)"


def test_signing_key_is_created_private_and_reused(tmp_path: Path) -> None:
    k1 = load_or_create_signing_key(tmp_path / "pki")
    path = tmp_path / "pki" / "service-account.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    k2 = load_or_create_signing_key(tmp_path / "pki")
    assert key_id(k1.public_key()) == key_id(k2.public_key())
    path.write_text("garbage")
    with pytest.raises(StartupError, match=r"service-account\.key"):
        load_or_create_signing_key(tmp_path / "pki")


def test_token_controller_fills_a_legacy_secret_that_then_authenticates(env: Any) -> None:
    objs, _, issuer, auth = env
    secret: Obj = {
        "metadata": _meta(
            "build-token", "sec-1", "ci",
            annotations={"kubernetes.io/service-account.name": "build"},
        ),
        "type": "kubernetes.io/service-account-token",
    }  # fmt: skip
    filled = populate_legacy_secret(issuer, _sa(objs), secret, b"CA")
    assert filled is not None
    assert filled["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == "sa-1"
    assert base64.b64decode(filled["data"]["ca.crt"]) == b"CA"
    assert base64.b64decode(filled["data"]["namespace"]) == b"ci"
    assert populate_legacy_secret(issuer, _sa(objs), filled, b"CA") is None  # complete
    objs.put("secrets", filled)
    token = base64.b64decode(filled["data"]["token"]).decode()
    user = auth.review_token(token).user
    assert user is not None and user.name == "system:serviceaccount:ci:build"
    other = {**_sa(objs), "metadata": _meta("build", "sa-2", "ci")}
    assert populate_legacy_secret(issuer, other, filled, b"CA") is None  # another account's
