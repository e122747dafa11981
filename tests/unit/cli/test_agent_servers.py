"""``pinnace agent --server A,B``: the servers listed, and joining through the
first one that answers."""

from __future__ import annotations

import pytest

from pinnace.cli.agent import first_answer, server_urls
from pinnace.client.jointoken import JoinTokenError


def test_server_urls() -> None:
    assert server_urls("https://a:6443") == ["https://a:6443"]
    assert server_urls(" https://a:6443/, https://b:6443 ,") == ["https://a:6443", "https://b:6443"]
    with pytest.raises(ValueError):
        server_urls(" , ")


async def test_joining_goes_on_to_the_next_server() -> None:
    tried: list[str] = []

    async def join(server: str) -> str:
        tried.append(server)
        if server == "a":
            raise ConnectionRefusedError("refused")
        if server == "b":
            raise JoinTokenError("wrong CA")
        return f"joined {server}"

    assert await first_answer(["a", "b", "c"], join) == ("c", "joined c")
    assert tried == ["a", "b", "c"]
    with pytest.raises(JoinTokenError):
        await first_answer(["a", "b"], join)  # the last server's error
