"""TokenReview over a chain of token authenticators: first success wins,
refusals are aggregated as upstream's union authenticator reports them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pinnace.apiserver.authn import TokenAuthenticator, UserInfo
from pinnace.apiserver.authn.serviceaccount import TokenResult
from pinnace.apiserver.errors import ApiError
from pinnace.apiserver.tokenrequest import review

API = ("https://kubernetes.default.svc.cluster.local",)


class Static:
    def __init__(self, token: str, user: UserInfo) -> None:
        self.token, self.user = token, user

    async def authenticate_token(self, token: str) -> UserInfo | None:
        return self.user if token == self.token else None


class Refusing:
    """Audience-aware and always refusing with a reason."""

    def __init__(self, why: str) -> None:
        self.why = why

    async def authenticate_token(self, token: str) -> UserInfo | None:
        return None

    def review_token(self, token: str, audiences: Sequence[str] | None = None) -> TokenResult:
        return TokenResult(error=self.why)


ALICE = UserInfo("alice", ("dev", "system:authenticated"), "1", {"k": ["v"]})


def _body(token: str, audiences: list[str] | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


async def test_known_token() -> None:
    chain: list[TokenAuthenticator] = [Refusing("nope"), Static("t", ALICE)]
    out = await review(chain, API, _body("t"))
    assert out["kind"] == "TokenReview"
    assert out["status"] == {
        "authenticated": True,
        "user": {
            "username": "alice",
            "uid": "1",
            "groups": ["dev", "system:authenticated"],
            "extra": {"k": ["v"]},
        },
        "audiences": list(API),
    }


async def test_unknown_token_is_an_invalid_bearer_token() -> None:
    out = await review([Static("t", ALICE)], API, _body("other"))
    assert out["status"] == {"user": {}, "error": "invalid bearer token"}


async def test_refusals_are_aggregated() -> None:
    one = await review([Refusing("a"), Static("t", ALICE)], API, _body("x"))
    assert one["status"]["error"] == "a"
    two = await review([Refusing("a"), Refusing("b"), Refusing("a")], API, _body("x"))
    assert two["status"]["error"] == "[a, b]"


async def test_audience_agnostic_authenticators_serve_only_the_api_audiences() -> None:
    out = await review([Static("t", ALICE)], API, _body("t", ["vault"]))
    assert "authenticated" not in out["status"]
    ok = await review([Static("t", ALICE)], API, _body("t", ["vault", API[0]]))
    assert ok["status"]["audiences"] == [API[0]]


async def test_token_is_required() -> None:
    with pytest.raises(ApiError) as e:
        await review([], API, _body(""))
    assert (e.value.code, e.value.message) == (
        400,
        "token is required for TokenReview in authentication",
    )
