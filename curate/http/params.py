"""Params and checks every HTTP engine shares: the retry settings, the name of the environment
variable holding the key, and where a request goes (proxy, local or not)."""

from __future__ import annotations

import ipaddress
import urllib.request
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from curate.engine import EngineParams


class RetryParams(EngineParams):
    """Retry settings of an HTTP engine (base of its params). Backoff: full jitter, doubling from
    ``backoff_base`` up to ``backoff_max``; a server's ``Retry-After`` wins (up to 600 s)."""

    timeout: float = Field(600.0, gt=0, description="Seconds one attempt may take (connect, generate, read) before "
                                                    "it counts as a failed, retryable attempt.")
    max_attempts: int = Field(5, ge=1, le=100, description="Attempts per request in total, the first included.")
    backoff_base: float = Field(1.0, ge=0, description="Seconds of the first retry's backoff ceiling; doubles per "
                                                       "retry, with full jitter.")
    backoff_max: float = Field(60.0, gt=0, description="Largest backoff ceiling in seconds (a server's "
                                                       "`Retry-After` is honoured instead, up to 600 s).")

    @model_validator(mode="after")
    def _backoff(self) -> "RetryParams":
        if self.backoff_base > self.backoff_max:
            raise ValueError(f"backoff_base ({self.backoff_base}) is greater than backoff_max ({self.backoff_max})")
        return self


def check_env_name(value: str | None, example: str) -> str | None:
    """``api_key_env`` must name an environment variable, never hold the key itself."""
    if value is not None and (not value or not value.replace("_", "").isalnum() or value[0].isdigit()):
        raise ValueError(f"api_key_env must be the NAME of an environment variable (e.g. {example}), "
                         f"not {'an empty string' if not value else 'a key'}")
    return value


def env_proxy(url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) sets for ``url``."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme) or None


def is_local_host(host: str) -> bool:
    """Loopback, private network, or a single-label name (a container or cluster service)."""
    if host in ("localhost", "host.docker.internal") or host.endswith((".local", ".localhost", ".internal")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified
