"""Bootstrap tokens: the Secret rules upstream's authenticator applies."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from pinnace.apiserver.authn.bootstrap import BootstrapTokenAuthenticator, groups_of, parse_token
from pinnace.client.clock import FakeClock

TOKEN = "abcdef.0123456789abcdef"
Obj = dict[str, Any]


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _secret(**data: str) -> Obj:
    base = {
        "token-id": "abcdef",
        "token-secret": "0123456789abcdef",
        "usage-bootstrap-authentication": "true",
    }
    base.update(data)
    return {
        "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: _b64(v) for k, v in base.items() if v != "<absent>"},
    }


class Secrets:
    def __init__(self) -> None:
        self.secret: Obj | None = None

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> Obj | None:
        assert (plural, namespace) == ("secrets", "kube-system")
        if self.secret is not None and self.secret["metadata"]["name"] == name:
            return self.secret
        return None


@pytest.fixture
def env() -> tuple[Secrets, FakeClock, BootstrapTokenAuthenticator]:
    s = Secrets()
    clock = FakeClock()
    return s, clock, BootstrapTokenAuthenticator(s.get, clock=clock)


def test_token_format() -> None:
    assert parse_token(TOKEN) == ("abcdef", "0123456789abcdef")
    for bad in (
        "ABCDEF.0123456789abcdef",
        "abcdef.0123456789abcde",
        "abcdef0123456789abcdef",
        TOKEN + "\n",
        "abcdef.0123456789abcdef.x",
    ):
        assert parse_token(bad) is None


async def test_valid_token_with_extra_groups(env: Any) -> None:
    s, _, auth = env
    s.secret = _secret(
        **{"auth-extra-groups": "system:bootstrappers:worker,system:bootstrappers:a"}
    )
    user = await auth.authenticate_token(TOKEN)
    assert user is not None
    assert user.name == "system:bootstrap:abcdef"
    assert user.groups == (
        "system:bootstrappers",
        "system:bootstrappers:a",
        "system:bootstrappers:worker",
        "system:authenticated",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"token-secret": "ffffffffffffffff"},
        {"token-id": "zzzzzz"},
        {"usage-bootstrap-authentication": "false"},
        {"usage-bootstrap-authentication": "<absent>"},
        {"auth-extra-groups": "system:masters"},
        {"auth-extra-groups": "system:bootstrappers:ok,system:bootstrappers:"},
        {"expiration": "not-a-time"},
    ],
)
async def test_refused_secrets(env: Any, change: dict[str, str]) -> None:
    s, _, auth = env
    s.secret = _secret(**change)
    assert await auth.authenticate_token(TOKEN) is None


async def test_expiration(env: Any) -> None:
    s, clock, auth = env
    when = (clock.wall() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    s.secret = _secret(expiration=when)
    assert await auth.authenticate_token(TOKEN) is not None
    await clock.advance(301)
    assert await auth.authenticate_token(TOKEN) is None


async def test_wrong_type_deleted_or_missing_secret(env: Any) -> None:
    s, _, auth = env
    assert await auth.authenticate_token(TOKEN) is None
    s.secret = _secret()
    s.secret["type"] = "Opaque"
    assert await auth.authenticate_token(TOKEN) is None
    s.secret = _secret()
    s.secret["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert await auth.authenticate_token(TOKEN) is None
    assert await auth.authenticate_token("not-a-bootstrap-token") is None


def test_group_validation_message() -> None:
    with pytest.raises(ValueError) as e:
        groups_of(_secret(**{"auth-extra-groups": "system:masters"}))
    assert str(e.value).startswith('bootstrap group "system:masters" is invalid (must match ')
