"""docker-compose.yml describes the production shape, with commands that name real modules."""

import importlib
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_five_services_with_health_checks():
    services = _compose()["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], name


def test_compose_commands_name_modules_that_exist():
    services = _compose()["services"]
    web = services["web"]["command"]
    wsgi_module, _, attribute = re.search(r"gunicorn (\S+)", web).group(1).partition(":")
    assert callable(getattr(importlib.import_module(wsgi_module), attribute))
    for name in ("worker", "beat"):
        command = services[name]["command"]
        app_module = re.search(r"-A (\S+)", command).group(1)
        assert importlib.import_module(app_module).celery_app.main == "saas_platform"
    scheduler = re.search(r"--scheduler (\S+)", services["beat"]["command"]).group(1)
    module, _, cls = scheduler.partition(":")
    assert hasattr(importlib.import_module(module), cls)
    assert services["worker"]["command"].count("training") == 1
