"""The components' event recorder as client-go's: identical repeats counted, similar events
combined from the tenth message on, spam dropped past the burst."""

from __future__ import annotations

from typing import Any

from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.events import COMBINED_PREFIX, NORMAL, EventRecorder, ObjectRef
from kubeward.sim.scenarios.model import load_scenario


class Recorded:
    def __init__(self, *, series: bool = False) -> None:
        self.wall = 0.0
        self.sim = SimCluster(
            load_scenario("tiny"), clock=SimClock(monotonic=lambda: self.wall), simulate=False
        )
        self.sim.bootstrap()
        self.recorder = EventRecorder(self.sim.api, "replicaset-controller", series=series)
        self.rs = ObjectRef("ReplicaSet", "default", "web-5d8f", "uid-1", "apps/v1")

    def events(self) -> list[dict[str, Any]]:
        found = [e.decode() for e in self.sim.store.resource(("", "events")).objects.values()]
        return sorted(found, key=lambda e: e["metadata"]["name"])

    def created(self, *pods: str) -> None:
        for pod in pods:
            self.recorder.event(self.rs, NORMAL, "SuccessfulCreate", f"Created pod: {pod}")


def test_an_identical_repeat_is_counted_on_one_event() -> None:
    r = Recorded()
    r.recorder.event(r.rs, NORMAL, "ScalingReplicaSet", "Scaled up to 3")
    r.wall += 5
    r.recorder.event(r.rs, NORMAL, "ScalingReplicaSet", "Scaled up to 3")
    (event,) = r.events()
    assert event["count"] == 2 and event["lastTimestamp"] > event["firstTimestamp"]


def test_similar_events_are_combined_from_the_tenth_message() -> None:
    r = Recorded()
    r.created(*(f"web-5d8f-{i:02d}" for i in range(9)))
    assert len(r.events()) == 9
    r.created("web-5d8f-09", "web-5d8f-10", "web-5d8f-11")
    events = r.events()
    assert len(events) == 10
    combined = [e for e in events if e["message"].startswith(COMBINED_PREFIX)]
    assert len(combined) == 1
    assert combined[0]["message"] == f"{COMBINED_PREFIX}Created pod: web-5d8f-11"
    assert combined[0]["count"] == 3 and combined[0]["reason"] == "SuccessfulCreate"
    # other reasons of the same object are aggregated apart
    r.recorder.event(r.rs, NORMAL, "SuccessfulDelete", "Deleted pod: web-5d8f-00")
    assert any(e["message"] == "Deleted pod: web-5d8f-00" for e in r.events())
    # ten minutes later the similar messages are forgotten
    r.wall += 601
    r.created("web-5d8f-12")
    assert any(e["message"] == "Created pod: web-5d8f-12" for e in r.events())


def test_spam_past_the_burst_is_dropped() -> None:
    r = Recorded()
    r.created(*(f"web-5d8f-{i:02d}" for i in range(30)))
    combined = next(e for e in r.events() if e["message"].startswith(COMBINED_PREFIX))
    assert combined["count"] == 25 - 9  # the tenth to the twenty-fifth
    assert r.recorder.dropped == 5


def test_the_series_recorder_does_not_combine() -> None:
    r = Recorded(series=True)
    r.created(*(f"web-5d8f-{i:02d}" for i in range(12)))
    assert len(r.events()) == 12
    assert not any(e["message"].startswith(COMBINED_PREFIX) for e in r.events())
