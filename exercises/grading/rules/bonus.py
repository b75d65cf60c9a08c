"""Bonus items: the lecture's Challenge Extension (they never change the status)."""

from __future__ import annotations

import re

from ..compose import as_list
from ..types import Extension
from .analysis import Analysis

_MONITORING = re.compile(
    r"prometheus|grafana|cadvisor|node-exporter|alertmanager|loki|promtail|datadog|newrelic|"
    r"opentelemetry|otel|netdata|victoriametrics|zabbix|uptime-kuma|jaeger|tempo|exporter"
)
_BACKUP = re.compile(
    r"backup|pg_dump|pg_basebackup|pgbackrest|wal-g|restic|borg|duplicity|mysqldump|mongodump"
)
_LOG_SHIPPERS = frozenset(
    {"fluentd", "gelf", "syslog", "journald", "awslogs", "splunk", "gcplogs", "loki", "logentries"}
)
_CI_FILES = re.compile(
    r"^(\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.ya?ml|Jenkinsfile|\.circleci/config\.ya?ml|"
    r"azure-pipelines\.ya?ml|bitbucket-pipelines\.ya?ml|\.drone\.ya?ml|\.travis\.ya?ml|"
    r"cloudbuild\.ya?ml|buildspec\.ya?ml|\.woodpecker(\.ya?ml|/[^/]+\.ya?ml)|\.buildkite/[^/]+\.ya?ml|"
    r"\.tekton/[^/]+\.ya?ml)$"
)
_CI_BUILDS = re.compile(
    r"docker\s+(build|push|compose)|buildx|build-push-action|kaniko|buildah|docker/login-action",
    re.I,
)


def extensions(a: Analysis) -> list[Extension]:
    """The lecture's Challenge Extension, reported as bonus items."""
    return [
        _logging(a),
        _monitoring(a),
        _backups(a),
        _segmentation(a),
        _pipeline(a),
    ]


def _logging(a: Analysis) -> Extension:
    evidence = []
    for name, service in a.services.items():
        logging = service.get("logging") or {}
        driver = logging.get("driver") or "json-file"
        options = logging.get("options") or {}
        if "max-size" in options or driver == "local" or driver in _LOG_SHIPPERS:
            shown = ", ".join(f"{k}={v}" for k, v in options.items())
            evidence.append(
                f"service {name}: logging driver {driver}" + (f" ({shown})" if shown else "")
            )
    return Extension("logging", "Production-grade logging with rotation", bool(evidence), evidence)


def _monitoring(a: Analysis) -> Extension:
    evidence = [
        f"service {name}: {service.get('image')}"
        for name, service in a.services.items()
        if _MONITORING.search(str(service.get("image") or "").lower())
    ]
    return Extension(
        "monitoring", "Monitoring (e.g. Prometheus and Grafana)", bool(evidence), evidence
    )


def _backups(a: Analysis) -> Extension:
    db_volumes = {
        str(volume.get("source"))
        for volume in as_list(a.service(a.db).get("volumes"))
        if isinstance(volume, dict) and volume.get("source")
    }
    evidence = []
    for name, service in a.services.items():
        if name == a.db:
            continue
        text = (
            " ".join(str(service.get(k) or "") for k in ("image", "command", "entrypoint"))
            + " "
            + name
        )
        shares = {
            str(v.get("source")) for v in as_list(service.get("volumes")) if isinstance(v, dict)
        } & db_volumes
        if _BACKUP.search(text.lower()) or shares and "backup" in text.lower():
            evidence.append(
                f"service {name} backs up the database"
                + (f" (volume {', '.join(sorted(shares))})" if shares else "")
            )
    for path, content in a.submission.files.items():
        if (
            path not in (a.submission.dockerfile, a.submission.compose)
            and _BACKUP.search(content.decode("utf-8", "replace"))
            and re.search(
                r"pg_dump|mysqldump|mongodump|restic|borg|wal-g|pgbackrest",
                content.decode("utf-8", "replace"),
            )
        ):
            evidence.append(f"{path} holds a backup procedure")
    return Extension(
        "backups", "Backup and restore of the database volume", bool(evidence), evidence
    )


def _segmentation(a: Analysis) -> Extension:
    networks = a.config.get("networks") or {}
    db_networks = list((a.service(a.db).get("networks") or {}).keys()) if a.db else []
    internal = [n for n in db_networks if (networks.get(n) or {}).get("internal")]
    evidence = []
    if len(networks) > 1 or set(networks) - {"default"}:
        evidence.append(f"networks: {', '.join(sorted(networks))}")
    present = bool(db_networks) and len(internal) == len(db_networks)
    if present:
        evidence.append(f"the database is only on internal network(s): {', '.join(internal)}")
    elif a.db and db_networks:
        evidence.append(
            f"the database is on non-internal network(s): {', '.join(n for n in db_networks if n not in internal)}"
        )
    return Extension(
        "network-segmentation",
        "Network segmentation (database on an internal network)",
        present,
        evidence,
    )


def _pipeline(a: Analysis) -> Extension:
    evidence = []
    for path, content in sorted(a.submission.files.items()):
        if _CI_FILES.match(path):
            builds = bool(_CI_BUILDS.search(content.decode("utf-8", "replace")))
            evidence.append(f"{path}" + (" builds and pushes the image" if builds else ""))
    return Extension("ci-cd", "A CI/CD pipeline for automated deployment", bool(evidence), evidence)
