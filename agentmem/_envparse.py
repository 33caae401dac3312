"""The one strict parser of settings values, shared by the settings classes and ``from_env``.

Each check takes a label (``RedisSettings.timeout`` for a value given in code, the variable's
name for one read from the environment) so a :class:`ConfigurationError` names where the value
came from and says what is accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from agentmem.errors import ConfigurationError

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "EnvReader",
    "check_count",
    "check_port",
    "check_seconds",
    "check_url",
    "redact_url",
]

#: Spellings of a true / false boolean variable, compared case-insensitively.
BOOLEAN_TRUE = ("1", "true", "yes", "on")
BOOLEAN_FALSE = ("0", "false", "no", "off")
MAX_PORT = 65535
REDIS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
WEAVIATE_SCHEMES = ("http", "https")
_MASK = "***"
_DIGITS = re.compile(r"[0-9]+")
# float() also takes "nan", "inf", "1_0" and "-5"; none of them is a timeout anyone means.
_DECIMAL = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SECONDS = "is not a duration: use a finite number of seconds greater than 0"
_COUNT = "is not a count: use an integer >= 1"


def _port_rule(maximum: int) -> str:
    return f"is not a port: use an integer from 1 to {maximum}"


def redact_url(url: str | None) -> str | None:
    """Return ``url`` with any password replaced by ``***`` (safe to log, even if malformed)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    # Rebuilt from the raw netloc, so a malformed port cannot raise while it is being reported.
    host_port = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{_MASK}@{host_port}"))


def check_port(label: str, value: object, maximum: int = MAX_PORT) -> int:
    """Return ``value`` if it is an integer port from 1 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigurationError(f"{label}={value!r} {_port_rule(maximum)}")
    return value


def check_count(label: str, value: object) -> int:
    """Return ``value`` if it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{label}={value!r} {_COUNT}")
    return value


def check_seconds(label: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds greater than 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(f"{label}={value!r} {_SECONDS}")
    return float(value)


def check_url(label: str, value: object, schemes: tuple[str, ...]) -> str | None:
    """Return ``value`` if it is ``None`` or a URL the clients take whole, without a raw error."""
    if value is None:
        return None
    form = " or ".join(f"{s}://host:port" for s in schemes)
    if not isinstance(value, str):
        raise ConfigurationError(f"{label}={value!r} is not a URL of the form {form}")
    shown = redact_url(value)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigurationError(f"{label}={shown!r} is not a URL of the form {form}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or too big
    except ValueError:
        raise ConfigurationError(
            f"{label}={shown!r} has a malformed port: put an integer from 1 to {MAX_PORT} after "
            "the host, or leave it out for the scheme's default"
        ) from None
    if parts.port == 0:
        raise ConfigurationError(f"{label}={shown!r}: port 0 {_port_rule(MAX_PORT)}")
    if schemes == REDIS_SCHEMES:
        if not re.fullmatch(r"/?[0-9]*", parts.path):
            raise ConfigurationError(
                f"{label}={shown!r}: the path must be a database number such as /0"
            )
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        # The Weaviate client takes host and port only: a path would be dropped without a word.
        raise ConfigurationError(
            f"{label}={shown!r}: give only scheme, host and port, e.g. https://weaviate.example:443"
        )
    return value


class EnvReader:
    """Reads ``AGENTMEM_*`` variables from one mapping; an empty value counts as unset.

    Args:
        environ: the variables; nothing else is ever read.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        """The raw value, or ``None`` if unset or empty."""
        value = self._environ.get(name)
        return value if value else None

    def _stripped(self, name: str) -> str | None:
        value = self.text(name)
        return value.strip() if value is not None else None

    def boolean(self, name: str, default: bool) -> bool:
        """One of :data:`BOOLEAN_TRUE` or :data:`BOOLEAN_FALSE`, in any case."""
        raw = self._stripped(name)
        if raw is None:
            return default
        if raw.lower() in BOOLEAN_TRUE:
            return True
        if raw.lower() in BOOLEAN_FALSE:
            return False
        raise ConfigurationError(
            f"{name}={raw!r} is not a boolean: use one of {', '.join(BOOLEAN_TRUE)} or "
            f"{', '.join(BOOLEAN_FALSE)} (any case)"
        )

    def _integer(self, name: str, rule: str) -> int | None:
        raw = self._stripped(name)
        if raw is None:
            return None
        if not _DIGITS.fullmatch(raw):
            raise ConfigurationError(f"{name}={raw!r} {rule}")
        return int(raw)

    def port(self, name: str, default: int, *, maximum: int = MAX_PORT) -> int:
        """An integer from 1 to ``maximum``."""
        value = self._integer(name, _port_rule(maximum))
        return default if value is None else check_port(name, value, maximum)

    def count(self, name: str) -> int | None:
        """An integer >= 1, or ``None`` if unset."""
        value = self._integer(name, _COUNT)
        return None if value is None else check_count(name, value)

    def seconds(self, name: str, default: float) -> float:
        """A finite number of seconds greater than 0."""
        raw = self._stripped(name)
        if raw is None:
            return default
        number = float(raw) if _DECIMAL.fullmatch(raw) else math.nan
        if not math.isfinite(number) or number <= 0:
            raise ConfigurationError(f"{name}={raw!r} {_SECONDS}")
        return number

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        """One of ``choices`` in any case (returned as spelled in ``choices``), or ``None``."""
        raw = self._stripped(name)
        if raw is None:
            return None
        if raw.upper() not in choices:
            raise ConfigurationError(
                f"{name}={raw!r} is not one of {', '.join(choices)} (any case)"
            )
        return raw.upper()

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        """A URL with one of ``schemes`` (see :func:`check_url`), or ``None``."""
        return check_url(name, self._stripped(name), schemes)

    def headers(self, name: str) -> dict[str, str]:
        """A JSON object of string values."""
        raw = self.text(name)
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigurationError(
                f'{name} must be a JSON object of strings, e.g. {{"X-OpenAI-Api-Key": "..."}}'
            )
        return value
