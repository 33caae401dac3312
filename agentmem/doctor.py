"""``agentmem doctor``: check the configured servers and say what to fix.

:func:`diagnose` looks at the Redis and the Weaviate agentmem is configured for (never starting
the local default) and returns :class:`Finding` rows: ``ok``, ``info`` (worth knowing, nothing to
do) or ``fix`` (with what to do). It checks:

* Redis: reachable and the credentials accepted; its version; cluster mode on the server against
  ``AGENTMEM_REDIS_CLUSTER``; the grants of the configured user, by running what agentmem runs (a
  Lua script that writes, reads and deletes a key under the key prefix and reads the server
  clock), so a missing ``+@scripting``, ``+time`` or key pattern shows with Redis's own message;
* Weaviate: reachable; its version against the oldest supported one, and which workarounds apply
  to it; the nodes against the replication factor and consistency configured; the schema version
  of every agentmem collection against this agentmem's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import redis
from redis.exceptions import NoPermissionError, ResponseError

from agentmem._connections import redis_client
from agentmem._redis.keys import SCHEMA_VERSION as KEY_SCHEMA
from agentmem._redis.keys import check_prefix
from agentmem._weaviate import lifecycle
from agentmem._weaviate.schema import SCHEMA_VERSION, parse_version
from agentmem.config import AgentMemSettings, redact_url
from agentmem.core import AgentMem
from agentmem.errors import AgentMemError, AuthenticationFailed
from agentmem.local import OLDEST_WEAVIATE_VERSION, WEAVIATE_VERSION

__all__ = ["Finding", "diagnose"]

Status = Literal["ok", "info", "fix"]

# The grants the README documents; what the probe script needs of them.
GRANTS = "~{prefix}:* +@read +@write +@scripting +time +ping +client"
_PROBE = """
redis.call('SET', KEYS[1], '1', 'PX', 5000)
local got = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('TIME')
return got
"""
_OLDEST_REDIS = (6, 2)


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of :func:`diagnose`.

    Attributes:
        server: ``"redis"`` or ``"weaviate"``.
        check: what was checked (``"reachable"``, ``"version"``, ``"grants"``...).
        status: ``"ok"``, ``"info"`` (nothing to do) or ``"fix"`` (``detail`` says what to do).
        detail: what was found, and for ``fix`` what to do.
    """

    server: Literal["redis", "weaviate"]
    check: str
    status: Status
    detail: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _version(text: str) -> tuple[int, ...]:
    return lifecycle.parse_version(text)


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def diagnose(settings: AgentMemSettings | None = None) -> list[Finding]:
    """Check the configured servers; never starts the local default.

    Args:
        settings: what to check (None: ``AgentMemSettings.from_env()``, as the library and the
            CLI read it).
    """
    settings = settings if settings is not None else AgentMemSettings.from_env()
    settings = replace(settings, local=replace(settings.local, autostart=False))
    found: list[Finding] = []
    with AgentMem(settings) as mem:
        found += _redis_findings(mem)
        found += _weaviate_findings(mem)
    return found


def _unreachable(server: Literal["redis", "weaviate"], mem: AgentMem, exc: Exception) -> Finding:
    settings = mem.settings
    url = settings.redis.url if server == "redis" else settings.weaviate.url
    local = settings.local.redis_url if server == "redis" else settings.local.weaviate_url
    if isinstance(exc, AuthenticationFailed):
        what = "AGENTMEM_REDIS_URL's user and password" if server == "redis" else "the API key"
        return Finding(
            server, "reachable", "fix", f"the server refused the credentials: check {what} ({exc})"
        )
    if url is None or url == local:
        advice = "start the local default with `agentmem up`"
    else:
        advice = f"make sure {redact_url(url)} answers (AGENTMEM_{server.upper()}_URL)"
    return Finding(server, "reachable", "fix", f"not reachable: {advice} ({exc})")


def _redis_findings(mem: AgentMem) -> list[Finding]:
    settings = mem.settings.with_local_urls().redis
    out: list[Finding] = []
    node = redis_client(replace(settings, cluster=False))  # one node answers INFO either way
    try:
        try:
            node.ping()
            # HELLO (allowed with the documented grants, unlike INFO) names version and mode.
            hello = node.execute_command("HELLO")  # type: ignore[no-untyped-call]
            info = {_text(k): v for k, v in dict(hello).items()}
            server = {"redis_version": _text(info.get("version", b""))}
            cluster = int(_text(info.get("mode", b"")) == "cluster")
        except redis.AuthenticationError as exc:
            return [_unreachable("redis", mem, AuthenticationFailed(str(exc), backend="redis"))]
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            return [_unreachable("redis", mem, exc)]
        except NoPermissionError as exc:
            return [Finding("redis", "reachable", "fix", f"the user may not run PING or HELLO: grant "
                            f"{GRANTS.format(prefix=mem.key_prefix)} ({exc})")]  # fmt: skip
    finally:
        node.close()
    out.append(Finding("redis", "reachable", "ok", f"{redact_url(settings.url or '')} answers"))
    version = _version(str(server.get("redis_version", "")))
    if version and version < _OLDEST_REDIS:
        out.append(Finding("redis", "version", "fix", f"Redis {_dotted(version)} is older than "
                           f"{_dotted(_OLDEST_REDIS)}; upgrade (agentmem is tested on 7.0)"))  # fmt: skip
    else:
        out.append(
            Finding("redis", "version", "ok", f"Redis {_dotted(version) or 'of unknown version'}")
        )
    if bool(cluster) != settings.cluster:
        if cluster:
            detail = (
                "the server is a Redis Cluster node: set AGENTMEM_REDIS_CLUSTER=1 "
                "(RedisSettings(cluster=True))"
            )
        else:
            detail = (
                "AGENTMEM_REDIS_CLUSTER is on but the server is not in cluster mode: turn it off"
            )
        out.append(Finding("redis", "cluster mode", "fix", detail))
        return out
    out.append(Finding("redis", "cluster mode", "ok", "cluster" if cluster else "standalone"))
    out.append(_grants(mem))
    return out


def _grants(mem: AgentMem) -> Finding:
    key = f"{check_prefix(mem.key_prefix)}:{KEY_SCHEMA}:{{doctor}}:probe"
    try:
        got = mem.redis().eval(_PROBE, 1, key)
    except (NoPermissionError, ResponseError) as exc:
        return Finding("redis", "grants", "fix", f"the user lacks a grant agentmem needs ({exc}); "
                       f"grant {GRANTS.format(prefix=mem.key_prefix)}")  # fmt: skip
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return _unreachable("redis", mem, exc)
    if got not in (b"1", "1"):
        return Finding(
            "redis", "grants", "fix", f"a probe write under {mem.key_prefix}: read back {got!r}"
        )
    return Finding(
        "redis",
        "grants",
        "ok",
        f"scripts, the server clock and keys under {mem.key_prefix}:* are allowed",
    )


def _weaviate_findings(mem: AgentMem) -> list[Finding]:
    settings = mem.settings.weaviate
    try:
        client = mem.weaviate()
        meta = client.get_meta()
        nodes = client.cluster.nodes()
        configs = client.collections.list_all(simple=True)
    except AgentMemError as exc:
        return [_unreachable("weaviate", mem, exc)]
    out = [
        Finding(
            "weaviate",
            "reachable",
            "ok",
            f"{redact_url(mem.settings.with_local_urls().weaviate.url or '')} answers",
        )
    ]
    version = _version(str(meta.get("version", "")))
    out += _version_findings(version)
    out += _replication(len(nodes), settings.replication_factor, settings.consistency)
    for name, config in sorted(configs.items()):
        have = parse_version(config.description)
        if have is None:
            continue  # not an agentmem collection
        if have < SCHEMA_VERSION:
            out.append(
                Finding(
                    "weaviate",
                    f"schema {name}",
                    "fix",
                    f"schema version {have}, this agentmem writes {SCHEMA_VERSION}: run "
                    f"LongTermMemory(..., collection={name!r}).setup() once (writes refuse "
                    "it until then)",
                )
            )
        elif have > SCHEMA_VERSION:
            out.append(
                Finding(
                    "weaviate",
                    f"schema {name}",
                    "fix",
                    f"schema version {have} was written by a newer agentmem (this one knows "
                    f"{SCHEMA_VERSION}): upgrade agentmem",
                )
            )
        else:
            out.append(Finding("weaviate", f"schema {name}", "ok", f"schema version {have}"))
    return out


def _version_findings(version: tuple[int, ...]) -> list[Finding]:
    oldest, pinned = _version(OLDEST_WEAVIATE_VERSION), _version(WEAVIATE_VERSION)
    shown = _dotted(version) or "of unknown version"
    if version < oldest:
        return [
            Finding(
                "weaviate",
                "version",
                "fix",
                f"Weaviate {shown} is older than the oldest supported, {OLDEST_WEAVIATE_VERSION}: "
                f"upgrade (agentmem pins {WEAVIATE_VERSION})",
            )
        ]
    out = [
        Finding(
            "weaviate",
            "version",
            "ok",
            f"Weaviate {shown} (supported: {OLDEST_WEAVIATE_VERSION} and later; pinned: "
            f"{WEAVIATE_VERSION})",
        )
    ]
    workarounds: list[tuple[tuple[int, ...], str]] = [
        (
            lifecycle.BM25_FIXED_IN,
            "BM25 and hybrid queries rank a wider window first (weaviate#11780): two calls each",
        ),
        (
            lifecycle.DELETES_FIXED_IN,
            "deletes write tombstones and negated filters are re-checked in Python",
        ),
    ]
    for fixed, what in workarounds:
        if version < fixed:
            out.append(
                Finding(
                    "weaviate",
                    "workaround",
                    "info",
                    f"below {_dotted(fixed)}: {what}; upgrading removes it",
                )
            )
    if version > pinned:
        out.append(
            Finding(
                "weaviate",
                "version",
                "info",
                f"newer than the pinned {WEAVIATE_VERSION}, which the tests run on",
            )
        )
    return out


def _replication(nodes: int, factor: int | None, consistency: str | None) -> list[Finding]:
    if factor is not None and factor > nodes:
        return [
            Finding(
                "weaviate",
                "replication",
                "fix",
                f"replication factor {factor} with {nodes} node(s): collections cannot be "
                f"created; set AGENTMEM_WEAVIATE_REPLICATION_FACTOR to at most {nodes}",
            )
        ]
    if nodes > 1 and (factor or 1) == 1:
        return [
            Finding(
                "weaviate",
                "replication",
                "fix",
                f"{nodes} nodes but replication factor {factor or 'default (1)'}: one node "
                "down makes its tenants unreadable; set AGENTMEM_WEAVIATE_REPLICATION_FACTOR "
                "(3 is usual)",
            )
        ]
    out = [
        Finding(
            "weaviate",
            "replication",
            "ok",
            f"{nodes} node(s), replication factor {factor or 'the server default'}",
        )
    ]
    if (factor or 1) > 1 and consistency == "ONE":
        out.append(
            Finding(
                "weaviate",
                "consistency",
                "info",
                "consistency ONE: a read may miss a write acknowledged by another replica "
                "(QUORUM or ALL read their own writes)",
            )
        )
    return out


def report(findings: list[Finding], write: Callable[[str], None] = print) -> int:
    """Print ``findings``; return 0 when nothing needs fixing, else 2 (the CLI's exit code)."""
    for f in findings:
        write(f"[{f.status}] {f.server} {f.check}: {f.detail}")
    fixes = sum(1 for f in findings if f.status == "fix")
    write("nothing to fix" if not fixes else f"{fixes} thing{'s' if fixes != 1 else ''} to fix")
    return 0 if not fixes else 2
