"""deploy/ checked without Docker or promtool: the Dockerfile's rules (non-root, healthcheck,
pinned base, no remote ADD), the alert rules and the Grafana dashboard parse, and every metric
they name is one kashbot exports; the systemd unit restarts and has a watchdog."""

from __future__ import annotations

import configparser
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import yaml

from kashbot.obs.metrics import DaemonMetrics
from kashbot.obs.readings import Readings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
METRIC_RE = re.compile(r"\b(kashbot_[a-z0-9_]+)")
SUFFIXES = ("", "_total", "_created", "_bucket", "_sum", "_count")
FILL = {"str": "ACTIVE", "bool": True, "int": 1, "float": 1.0}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exported_metrics() -> set[str]:
    """Every family kashbot's registry exposes (readings filled so labelled families appear)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Readings):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            values[f.name] = FILL.get(str(f.type))
    metrics = DaemonMetrics(read=lambda: Readings(**values))
    names: set[str] = {"up"}
    for fam in metrics.registry.collect():
        names.update(fam.name + s for s in SUFFIXES)
        names.update(s.name for s in fam.samples)
    src = "\n".join(p.read_text() for p in (ROOT / "kashbot" / "obs").glob("*.py"))
    for name in set(re.findall(r'"(kashbot_[a-z0-9_]+)"', src)):  # families with no sample now
        names.update(name + s for s in SUFFIXES)
    return names


def test_dockerfile_rules() -> None:
    ins = dockerfile_instructions()
    froms = [rest.split()[0] for word, rest in ins if word == "FROM"]
    assert froms, "no FROM"
    for image in froms:
        assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the final stage must run as a non-root USER"
    assert any(w == "HEALTHCHECK" and "/healthz" in rest for w, rest in ins), "no HEALTHCHECK"
    for word, rest in ins:
        if word == "ADD":
            assert not re.search(r"https?://", rest), f"ADD of a URL: {rest}"
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    assert any(w == "USER" for w, _ in ins[last_from:]), "USER must be set in the runtime stage"


def test_alert_rules_parse_and_name_real_metrics() -> None:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    for wanted in ("Halted", "Stale", "CapNear", "OutcomeUnknown", "ScrapeDown"):
        assert any(wanted in n for n in names), f"no alert for {wanted}"
    known = exported_metrics()
    for r in rules:
        assert r["expr"].strip() and r["annotations"]["summary"], r
        for metric in METRIC_RE.findall(r["expr"]):
            assert metric in known, f"alert {r['alert']}: unknown metric {metric}"


def test_dashboard_parses_and_names_real_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "kashbot.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    known = exported_metrics()
    for expr in exprs:
        found = METRIC_RE.findall(expr)
        assert found, f"a panel without a kashbot metric: {expr}"
        for metric in found:
            assert metric in known, f"dashboard: unknown metric {metric} in {expr}"
    prov = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/kashbot.yml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_wires_daemon_prometheus_grafana() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kashbot", "prometheus", "grafana"} <= set(services)
    assert services["kashbot"]["build"]["dockerfile"] == "deploy/Dockerfile"
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounts = " ".join(services["prometheus"]["volumes"])
    assert "alerts.yml" in mounts and "prometheus.yml" in mounts


def test_systemd_unit_restarts_with_a_watchdog() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "kashbot.service")
    svc = unit["Service"]
    assert svc["Type"] == "notify" and svc["Restart"] == "on-failure"
    assert int(svc["WatchdogSec"]) > 0
    assert "kashbot run" in svc["ExecStart"] and svc["User"] != "root"
