"""`hermetic sync`'s flags, and the ones it lends `hermetic serve --sync`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from cli import sync as cli_sync
from cli.main import build_parser
from webhook.sync import SyncOptions
from webhook.sync.api import ApiError, is_transient


def test_sync_flags_make_options() -> None:
    args = build_parser().parse_args(
        [
            "sync",
            "--policy",
            "p",
            "--namespace",
            "ns",
            "--lease-name",
            "l",
            "--resync-seconds",
            "5",
            "--certs-dir",
            "/c",
            "--webhook-config-name",
            "a",
            "--webhook-config-name",
            "b",
        ]
    )
    options = cli_sync.options_from(args)
    assert (options.namespace, options.lease_name, options.resync_seconds) == ("ns", "l", 5.0)
    assert options.certs_dir == Path("/c")
    assert options.webhook_config_names == ("a", "b")
    defaults = cli_sync.options_from(build_parser().parse_args(["sync", "--bundle", "b.json"]))
    assert defaults.webhook_config_names == SyncOptions().webhook_config_names


def test_resync_must_be_a_second_or_more() -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["sync", "--policy", "p", "--resync-seconds", "0"])
    assert exit_.value.code == 2


def test_serve_gets_sync_flags_with_a_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli_sync.CERTS_DIR_ENV, "/etc/hermetic/ca")
    parser = argparse.ArgumentParser()
    cli_sync.add_serve_arguments(parser)
    args = parser.parse_args(["--sync", "--sync-lease-name", "x"])
    options = cli_sync.options_from(args, prefix="sync_")
    assert args.sync and options.lease_name == "x"
    assert options.certs_dir == Path("/etc/hermetic/ca")  # from the environment
    assert cli_sync.start_for_serve(parser.parse_args([]), lambda: None) is None


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ApiError(503, "x"), True),
        (ApiError(0, "x"), True),
        (ApiError(409, "x"), True),
        (ApiError(403, "x"), False),
        (ApiError(422, "x"), False),
        (ConnectionRefusedError(), True),
        (urllib3.exceptions.ProtocolError("broken"), True),
        (ValueError("a bug"), False),
    ],
)
def test_transient_errors(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_client_exceptions_become_api_errors() -> None:
    from webhook.sync.api import KubeTransport

    class Client:
        def param_serialize(self, *args: object, **kwargs: object) -> tuple[object, ...]:
            return ("GET", "http://x", {}, None, [])

        def call_api(self, *args: object, **kwargs: object) -> object:
            raise ApiException(status=0, reason="SSL: certificate verify failed")

    with pytest.raises(ApiError) as err:
        KubeTransport(Client()).request("GET", "/api/v1/namespaces")
    assert err.value.status == 0 and is_transient(err.value)
