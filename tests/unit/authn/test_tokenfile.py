"""--token-auth-file: upstream's CSV format, parse errors and lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.authn.tokenfile import (
    StaticTokenAuthenticator,
    TokenFileError,
    load_token_file,
    parse_token_csv,
)
from pinnace.apiserver.errors import StartupError


def test_records_with_and_without_groups() -> None:
    text = 'tok1,alice,1001,"dev,ops"\n\ntok2,bob,1002\n'
    tokens = parse_token_csv(text, "t.csv")
    assert tokens == {
        "tok1": UserInfo("alice", ("dev", "ops", "system:authenticated"), "1001"),
        "tok2": UserInfo("bob", ("system:authenticated",), "1002"),
    }


def test_empty_token_is_skipped_and_duplicates_keep_the_last() -> None:
    tokens = parse_token_csv(",nobody,0\nt,first,1\nt,second,2\n", "t.csv")
    assert list(tokens) == ["t"]
    assert tokens["t"].name == "second"


def test_too_few_columns_is_upstreams_error() -> None:
    with pytest.raises(TokenFileError) as e:
        parse_token_csv("tok,alice\n", "/etc/tokens.csv")
    assert str(e.value) == (
        "token file '/etc/tokens.csv' must have at least 3 columns "
        "(token, user name, user uid), found 2"
    )


def test_bad_csv_names_the_line() -> None:
    with pytest.raises(TokenFileError, match="parse error on line 2"):
        parse_token_csv('a,b,c\n"tok"x,alice,1\n', "t.csv")


async def test_lookup() -> None:
    auth = StaticTokenAuthenticator(parse_token_csv("s3cret,alice,1\n", "t.csv"))
    user = await auth.authenticate_token("s3cret")
    assert user is not None and user.name == "alice"
    assert await auth.authenticate_token("s3cre") is None
    assert await auth.authenticate_token("s3cret2") is None


def test_a_bad_or_missing_file_refuses_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="cannot read the token auth file"):
        load_token_file(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("only-a-token\n")
    with pytest.raises(StartupError, match="must have at least 3 columns"):
        load_token_file(bad)
    good = tmp_path / "good.csv"
    good.write_text("t,u,1\n")
    assert isinstance(load_token_file(good), StaticTokenAuthenticator)
