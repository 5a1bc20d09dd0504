"""The compose files: every process of the shop runs against the database the HA overlay names."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class Override(dict):
    """A mapping compose replaces instead of merging (`!override`)."""


class ComposeLoader(yaml.SafeLoader):
    """Reads compose's own tags: `!override` as an Override mapping, `!reset` as nothing."""


ComposeLoader.add_constructor("!override", lambda loader, node: Override(loader.construct_mapping(node, deep=True)))
ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def services(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)["services"]  # noqa: S506 (a SafeLoader)


def test_every_shop_process_uses_the_ha_database_in_the_ha_overlay():
    # given: the processes that run the shop's image (web, every worker group, beat, migrate)
    base = services("docker-compose.yml")
    shop = sorted(name for name, service in base.items() if service.get("image") == "shop:latest")
    assert {"web", "migrate", "beat", "worker-inventory", "worker-payments", "worker-general"} <= set(shop)
    # then: the overlay points each of them at both PostgreSQL nodes and replaces (not merges) what
    # they wait for, so none waits for the single database or its replica, which it switches off
    ha = services("docker-compose.ha.yml")
    switched_off = {name for name, service in ha.items() if service.get("profiles") == ["single-database"]}
    assert switched_off == {"postgres", "postgres-replica"}
    for name in shop:
        assert name in ha, f"{name} is not in docker-compose.ha.yml: it would use the single database"
        assert "pg-node1" in ha[name]["environment"]["DATABASE_URL"], name
        assert isinstance(ha[name]["depends_on"], Override), f"{name} would still wait for {switched_off}"
        assert not switched_off & set(ha[name]["depends_on"]), name


def test_every_worker_group_names_its_concurrency():
    base = services("docker-compose.yml")
    workers = {name: service["command"] for name, service in base.items() if name.startswith("worker-")}
    assert workers
    for name, command in workers.items():
        assert any(part.startswith("--concurrency=") for part in command), f"{name} leaves its concurrency to the host"
