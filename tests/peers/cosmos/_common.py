"""Shared client construction for seed.py / pyquery.py (azure-cosmos against the local peer)."""
import os
import sys
import time

from azure.core.credentials import AccessToken
from azure.cosmos import CosmosClient, SSLConfiguration


class StaticTokenCredential:
    """A TokenCredential that always returns one fixed bearer token."""

    def __init__(self, token, expires_on=None):
        self._token = token
        self._expires_on = int(expires_on or time.time() + 3600)

    def get_token(self, *scopes, **kwargs):  # noqa: ARG002 - scopes are irrelevant here
        return AccessToken(self._token, self._expires_on)


def add_auth_args(p, required=True):
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--key", help="account master key (base64)")
    g.add_argument("--token", help="AAD bearer token (JWT)")
    g.add_argument("--token-env", metavar="VAR", help="read the AAD bearer token from this environment variable")


def make_client(args):
    if getattr(args, "key", None):
        credential = args.key
    else:
        token = args.token if getattr(args, "token", None) else os.environ.get(args.token_env or "")
        if not token:
            sys.exit(f"error: no token (environment variable {args.token_env!r} is empty)")
        credential = StaticTokenCredential(token)
    # azure-cosmos silently skips TLS verification for 127.0.0.1/localhost unless an explicit
    # SSLConfiguration is given; with one, the CA bundle is really used (verified by selftest).
    ssl = SSLConfiguration()
    ssl.SSLCaCerts = args.ca
    kwargs = dict(
        ssl_config=ssl,
        enable_endpoint_discovery=False,
        connection_timeout=getattr(args, "timeout", 30),
    )
    # keep retry windows short so a failing test does not hang for minutes
    kwargs["retry_total"] = 5
    return CosmosClient(args.endpoint, credential=credential, **kwargs)
