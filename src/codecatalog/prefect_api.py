"""Which way a refresh runs: through the configured Prefect API, or in-process.

With a Prefect API configured (`PREFECT_API_URL` or the active profile) a refresh is a flow run,
after a sub-second health check. With none, Prefect would start a temporary API server for every
run (15–50 s on a loaded 2-core machine, STACK.md), so the CLI runs the same steps in-process
unless `--prefect` asks for the flow anyway.
"""

from __future__ import annotations

import os

import requests

from codecatalog.errors import CodecatalogError

HEALTH_TIMEOUT_SECONDS = 0.8
# A temporary server on a loaded 2-core machine can take 50 s to start; Prefect's default is 20 s.
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = "180"


class PrefectUnavailable(CodecatalogError):
    """The configured Prefect API does not answer."""


def configured_api_url() -> str | None:
    """The Prefect API URL from the environment or the active profile, None when unset."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def check_api(url: str, timeout: float = HEALTH_TIMEOUT_SECONDS, tries: int = 3) -> None:
    """Raise PrefectUnavailable (one line, with what to do) unless `url`/health answers.

    A dead server refuses the connection at once; a live one slowed by a loaded machine gets
    `tries` chances of `timeout` seconds each.
    """
    health = url.rstrip("/") + "/health"
    failure: requests.RequestException | None = None
    for _ in range(tries):
        try:
            requests.get(health, timeout=timeout).raise_for_status()
            return
        except requests.Timeout as err:
            failure = err  # slow, not dead: ask again
        except requests.RequestException as err:
            failure = err
            break
    assert failure is not None  # tries >= 1
    raise PrefectUnavailable(
        f"Prefect API at {url} is not reachable ({_reason(failure, tries)}); start it with "
        "`prefect server start`, unset PREFECT_API_URL, or run with --plain"
    )


def allow_slow_temporary_server() -> None:
    """Give a temporary Prefect server (no API configured, `--prefect`) time to start."""
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_TIMEOUT_SECONDS
    )


def _reason(err: requests.RequestException, tries: int) -> str:
    if isinstance(err, requests.Timeout):
        return f"no answer within {HEALTH_TIMEOUT_SECONDS} s, {tries} times"
    if isinstance(err, requests.ConnectionError):
        return "connection refused"
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code}"
    return type(err).__name__
