"""Reading metrics in tests: this process's prometheus_client values, and a whole /metrics scrape."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families


def sample(name: str, **labels: str) -> float:
    """The current value of one sample of this process (0 when it was never set)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moves:
    """Snapshot samples, then read how much each moved: `moved = Moves(); ...; moved(name, **labels)`."""

    def __init__(self) -> None:
        self._before = {
            (s.name, tuple(sorted(s.labels.items()))): s.value for metric in REGISTRY.collect() for s in metric.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        return sample(name, **labels) - self._before.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client, token: str) -> dict[tuple[str, tuple], float]:
    """GET /metrics as Prometheus would, with the bearer token; {(name, labels): value}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.status_code
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }
