"""Small views on compose data: environment and list forms, image references, and which
service is the database and which the learner's app (by intent, not by name alone)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .references import ReferenceInvalid, reference_parse


def env_dict(value: Any) -> dict[str, str | None]:
    """`environment` (list or mapping form) as a mapping; None = taken from the shell."""
    if isinstance(value, dict):
        return {str(k): None if v is None else _scalar(v) for k, v in value.items()}
    result: dict[str, str | None] = {}
    if isinstance(value, list):
        for item in value:
            key, sep, val = str(item).partition("=")
            result[key] = val if sep else None
    return result


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def truthy(value: Any) -> bool:
    """A compose boolean in any of the spellings Compose accepts."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1", "y")
    return value is True or (isinstance(value, int) and value != 0)


def is_external(spec: Any) -> bool:
    """A top-level volume, network, secret or config declared `external` (`true`, a
    spelling of it, or the old `external: {name: ...}` form)."""
    external = mapping(spec).get("external")
    return truthy(external) or isinstance(external, dict)


def mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class ImageRef:
    registry: str  # "" for Docker Hub
    repository: str  # e.g. "node", "distroless/nodejs18-debian12"
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return self.repository.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        text += f":{self.tag}" if self.tag is not None else ""
        return text + (f"@{self.digest}" if self.digest else "")


def image_ref(text: str) -> ImageRef:
    """A reference as the checklist reads it: Docker's own parse (`references`) when the text
    is a valid reference, else a best-effort split (the policy refuses invalid ones)."""
    try:
        ref = reference_parse(text.strip())
    except ReferenceInvalid:
        return _image_ref_lenient(text)
    if ref.on_hub:
        return ImageRef("", ref.path.removeprefix("library/"), ref.tag, ref.digest)
    return ImageRef(ref.domain.lower(), ref.path, ref.tag, ref.digest)


def _image_ref_lenient(text: str) -> ImageRef:
    rest, _, digest = text.strip().partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = None
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    registry = ""
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    if not registry and rest.startswith("library/"):
        rest = rest[len("library/") :]
    return ImageRef(registry.lower(), rest.lower(), tag, digest or None)


_DB_NAMES = re.compile(
    r"^(postgres|postgresql|postgis|timescaledb(-ha)?|mysql|mariadb|mongo|mongodb)$"
)
_DB_WORDS = re.compile(r"postgres|postgis|timescale|mysql|mariadb|mongo")
_NOT_DB = re.compile(r"backup|dump|exporter|admin|bouncer|pgpool|restic|cron")
_DB_SERVICE_NAMES = ("db", "database", "postgres", "postgresql", "pg", "mysql", "mariadb", "mongo")
_APP_SERVICE_NAMES = ("app", "web", "api", "server", "backend", "node", "application", "service")
# Infrastructure images a learner runs next to the app, never the app itself.
_THIRD_PARTY = re.compile(
    r"^(postgres|postgresql|postgis|mysql|mariadb|mongo|redis|valkey|memcached|nginx|httpd|"
    r"traefik|caddy|haproxy|envoy|prometheus|grafana|loki|promtail|alertmanager|"
    r"node-exporter|cadvisor|elasticsearch|kibana|logstash|fluentd|fluent-bit|vector|"
    r"busybox|alpine|rabbitmq|adminer|pgadmin4|portainer|jaeger|opentelemetry-collector|"
    r"watchtower|minio|vault|certbot|.*backup.*|.*exporter.*)$"
)


def service_image(service: Mapping[str, Any]) -> ImageRef | None:
    image = service.get("image")
    return image_ref(image) if isinstance(image, str) and image.strip() else None


def is_third_party(service: Mapping[str, Any]) -> bool:
    ref = service_image(service)
    return ref is not None and not service.get("build") and bool(_THIRD_PARTY.match(ref.name))


def find_db_service(services: Mapping[str, Any]) -> str | None:
    """The database: a postgres/mysql/mariadb/mongo image, the likeliest one if several."""

    def score(name: str) -> tuple[int, int, int, int]:
        service = services[name]
        ref = service_image(service)
        exact = bool(ref and _DB_NAMES.match(ref.name))
        depended = any(name in _depends_on(other) for other in services.values())
        return (exact, depended, name.lower() in _DB_SERVICE_NAMES, not service.get("command"))

    candidates = []
    for name, service in services.items():
        ref = service_image(service) if isinstance(service, Mapping) else None
        if ref and _DB_WORDS.search(ref.name) and not _NOT_DB.search(ref.name):
            candidates.append(name)
    return max(candidates, key=score, default=None)


def find_app_service(services: Mapping[str, Any], db: str | None) -> str | None:
    """The learner's application: built here, or not a known third-party image."""
    others = [n for n, s in services.items() if n != db and isinstance(s, Mapping)]
    pool = [n for n in others if services[n].get("build")] or [
        n for n in others if not is_third_party(services[n])
    ]

    def score(name: str) -> tuple[int, int]:
        return (
            db is not None and db in _depends_on(services[name]),
            name.lower() in _APP_SERVICE_NAMES,
        )

    return max(pool, key=score, default=None)


def _depends_on(service: Any) -> list[str]:
    if not isinstance(service, Mapping):
        return []
    value = service.get("depends_on")
    if isinstance(value, dict):
        return [str(k) for k in value]
    return [str(v) for v in as_list(value)]
