"""Static bearer tokens from ``--token-auth-file``, as kube-apiserver reads it.

The file is CSV: ``token,user,uid[,"group1,group2"]``, one token per record;
blank lines are skipped; an empty token is skipped with a warning; a token
listed twice keeps its last record (with a warning); a record of fewer than
three columns, or a CSV syntax error, refuses the file (and so the start of
the server) with upstream's message.

Concurrency: the file is read once, synchronously, at start-up; lookups are
in-memory and compare every token in constant time, so a caller cannot learn
a token's prefix from timings.
"""

from __future__ import annotations

import csv
import hmac
import io
import logging
import os

from pinnace.apiserver.authn import UserInfo
from pinnace.apiserver.errors import StartupError

log = logging.getLogger("pinnace.apiserver.authn.tokenfile")

AUTHENTICATED_GROUP = "system:authenticated"


class TokenFileError(ValueError):
    """The token file cannot be used; the message is upstream's."""


def parse_token_csv(text: str, path: str) -> dict[str, UserInfo]:
    """Token -> user from the file's text (``path`` only names it in messages)."""
    tokens: dict[str, UserInfo] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    record_num = 0
    try:
        for record in reader:
            if not record or record == [""]:
                continue  # blank line
            if len(record) < 3:
                raise TokenFileError(
                    f"token file '{path}' must have at least 3 columns "
                    f"(token, user name, user uid), found {len(record)}"
                )
            record_num += 1
            token = record[0]
            if not token:
                log.warning(
                    "empty token has been found in token file '%s', record number '%d'",
                    path,
                    record_num,
                )
                continue
            if token in tokens:
                log.warning(
                    "duplicate token has been found in token file '%s', record number '%d'",
                    path,
                    record_num,
                )
            groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
            if AUTHENTICATED_GROUP not in groups:
                groups = (*groups, AUTHENTICATED_GROUP)
            tokens[token] = UserInfo(record[1], groups, record[2])
    except csv.Error as e:
        raise TokenFileError(f"parse error on line {reader.line_num}: {e}") from None
    return tokens


class StaticTokenAuthenticator:
    def __init__(self, tokens: dict[str, UserInfo]) -> None:
        self._tokens = list(tokens.items())

    async def authenticate_token(self, token: str) -> UserInfo | None:
        found: UserInfo | None = None
        for known, user in self._tokens:
            if hmac.compare_digest(known.encode(), token.encode()):
                found = user
        return found


def load_token_file(path: str | os.PathLike[str]) -> StaticTokenAuthenticator:
    """The authenticator for ``--token-auth-file``; ``StartupError`` when the
    file cannot be read or parsed. Blocking: call once at start-up."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as e:
        raise StartupError(f"cannot read the token auth file: {e}; fix --token-auth-file") from e
    try:
        return StaticTokenAuthenticator(parse_token_csv(text, name))
    except TokenFileError as e:
        raise StartupError(f"invalid token auth file: {e}") from e
