"""Simulated container logs: which run a request reads, its lines, and the options' checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kubeward.kube.status import StatusError
from kubeward.sim.api.podlogs import LogOptions, _select, parse_options, resolve_container
from kubeward.sim.behaviour import ANNOTATION, BehaviourError, PodBehaviour, parse_behaviour
from kubeward.sim.nodes import containerlogs as cl
from kubeward.sim.scenarios.model import Fault

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC).timestamp()


def stamp(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    statuses: list[dict[str, Any]] | None = None,
    behaviour: dict[str, Any] | None = None,
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-1", "namespace": "shop", "uid": "u1"}
    if behaviour is not None:
        meta["annotations"] = {ANNOTATION: json.dumps(behaviour)}
    spec: dict[str, Any] = {
        "nodeName": "n1",
        "containers": containers
        or [
            {
                "name": "app",
                "image": "shop/web:1.2",
                "ports": [{"containerPort": 8080}],
                "resources": {"limits": {"memory": "100Mi"}},
            }
        ],
    }
    if init:
        spec["initContainers"] = init
    return {"metadata": meta, "spec": spec, "status": {"containerStatuses": statuses or []}}


def running(started: float = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "containerID": "containerd://run2",
        "state": {"running": {"startedAt": stamp(started)}},
        **extra,
    }


def terminated(
    started: float, finished: float, code: int, reason: str, cid: str = "containerd://run1"
) -> dict[str, Any]:
    return {
        "containerID": cid,
        "startedAt": stamp(started),
        "finishedAt": stamp(finished),
        "exitCode": code,
        "reason": reason,
    }


def texts(log: cl.ContainerLog) -> list[str]:
    return [line.text for line in log]


# -- the lines of one run ---------------------------------------------------------------------


def test_a_running_container_logs_its_start_then_a_heartbeat_a_minute() -> None:
    log = cl.container_log(pod([running()]), "app", False, T0 + 150)
    assert texts(log) == [
        'level=info msg="starting" container=app image=shop/web:1.2',
        'level=info msg="listening" port=8080',
        'level=info msg="heartbeat" uptime=60s memory=32Mi',
        'level=info msg="heartbeat" uptime=120s memory=32Mi',
    ]
    assert [line.at - T0 for line in log] == [0, 0, 60, 120]


def test_a_leak_shows_in_the_heartbeats_and_warns_near_the_limit() -> None:
    leaky = {"usage": {"memory": {"base": "40Mi", "leakPerHour": "600Mi"}}}
    log = cl.container_log(pod([running()], leaky), "app", False, T0 + 360)
    assert texts(log)[2:] == [
        'level=info msg="heartbeat" uptime=60s memory=50Mi',
        'level=info msg="heartbeat" uptime=120s memory=60Mi',
        'level=info msg="heartbeat" uptime=180s memory=70Mi',
        'level=info msg="heartbeat" uptime=240s memory=80Mi',
        'level=warn msg="memory near limit" uptime=300s memory=90Mi limit=100Mi',
        'level=warn msg="memory near limit" uptime=360s memory=100Mi limit=100Mi',
    ]


@pytest.mark.parametrize(
    ("code", "reason", "behaviour", "last"),
    [
        (1, "Error", {"crashLog": "panic: nil map"}, "panic: nil map"),
        (2, "Error", {}, 'level=error msg="fatal error, exiting" code=2'),
        (0, "Completed", {}, 'level=info msg="received SIGTERM, shutting down"'),
        (0, "Completed", {"runSeconds": 90}, 'level=info msg="work complete"'),
        (137, "OOMKilled", {}, None),
        (137, "Error", {}, None),  # SIGKILL at the end of the grace period
    ],
)
def test_how_a_run_ends_decides_its_last_line(
    code: int, reason: str, behaviour: dict[str, Any], last: str | None
) -> None:
    status = running(lastState={"terminated": terminated(0, 90, code, reason)})
    log = cl.container_log(pod([status], behaviour), "app", True, T0 + 500)
    lines = list(log)
    heartbeat = 'level=info msg="heartbeat" uptime=60s memory=32Mi'
    assert [x.text for x in lines[2:]] == [heartbeat] + ([last] if last else [])
    if last:
        assert lines[-1].at == T0 + 90


def test_an_init_container_that_finished_completed_its_work() -> None:
    init = [{"name": "setup", "image": "busybox"}]
    p = pod(init=init)
    p["status"]["initContainerStatuses"] = [
        {
            "name": "setup",
            "containerID": "containerd://i1",
            "state": {"terminated": terminated(0, 5, 0, "Completed", "containerd://i1")},
        }
    ]
    assert texts(cl.container_log(p, "setup", False, T0 + 60)) == [
        'level=info msg="starting" container=setup image=busybox',
        'level=info msg="started"',
        'level=info msg="work complete"',
    ]


def test_a_year_old_container_serves_only_what_rotation_kept() -> None:
    year = 365 * 86_400
    log = cl.container_log(pod([running()]), "app", False, T0 + year)
    assert len(log) == cl.MAX_LINES
    assert log.first == log.total - cl.MAX_LINES
    assert log[0].text.startswith('level=info msg="heartbeat"')
    assert log[len(log) - 1].at == T0 + year
    assert log.index_at(T0 + year - 600) == len(log) - 11


def test_the_same_run_read_twice_gives_the_same_lines() -> None:
    p = pod([running()], {"usage": {"memory": {"noise": 0.5}}})
    first = cl.container_log(p, "app", False, T0 + 3600)
    assert texts(first) == texts(cl.container_log(p, "app", False, T0 + 3600))


def test_timestamps_have_nine_fixed_digits() -> None:
    assert cl.format_timestamp(T0) == "2026-11-24T10:00:00.000000000Z"
    assert cl.format_timestamp(T0 + 0.25) == "2026-11-24T10:00:00.250000000Z"


# -- which run: the kubelet's validateContainerLogStatus -------------------------------------


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"waiting": {"reason": "ContainerCreating"}}, "is waiting to start: ContainerCreating"),
        ({"waiting": {"reason": "ErrImagePull"}}, "is waiting to start: image can't be pulled"),
        (
            {"waiting": {"reason": "ImagePullBackOff"}},
            "is waiting to start: trying and failing to pull image",
        ),
        ({}, "is waiting to start - no logs yet"),
        ({"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown"}}, "is terminated"),
    ],
)
def test_a_container_that_never_ran_has_no_log(state: dict[str, Any], message: str) -> None:
    p = pod([{"name": "app", "state": state}])
    with pytest.raises(cl.LogUnavailable) as err:
        cl.container_log(p, "app", False, T0)
    assert str(err.value) == f'container "app" in pod "web-1" {message}'


def test_previous_needs_a_terminated_run() -> None:
    with pytest.raises(cl.LogUnavailable) as err:
        cl.container_log(pod([running()]), "app", True, T0 + 10)
    assert str(err.value) == 'previous terminated container "app" in pod "web-1" not found'


def test_a_container_without_status_is_not_available() -> None:
    with pytest.raises(cl.LogUnavailable) as err:
        cl.container_log(pod([]), "app", False, T0)
    assert str(err.value) == 'container "app" in pod "web-1" is not available'


def test_a_crashlooping_container_serves_its_last_run() -> None:
    waiting = {
        "name": "app",
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": terminated(0, 30, 1, "Error")},
    }
    log = cl.container_log(pod([waiting], {"crashLog": "boom"}), "app", False, T0 + 100)
    assert log.run.container_id == "containerd://run1"
    assert texts(log)[-1] == "boom"


def test_a_followed_run_is_found_after_it_moved_to_the_last_state() -> None:
    restarted = running(100, lastState={"terminated": terminated(0, 90, 1, "Error")})
    found = cl.run_by_id(pod([restarted]), "app", "containerd://run1")
    assert found is not None and found.finished == T0 + 90
    assert cl.run_by_id(pod([restarted]), "app", "containerd://gone") is None


# -- the API server's side ---------------------------------------------------------------------


def test_options_out_of_range_are_invalid_pod_log_options() -> None:
    with pytest.raises(StatusError) as err:
        parse_options({"tailLines": "-1", "limitBytes": "0"}, "web-1")
    assert err.value.code == 422
    assert err.value.message == (
        'PodLogOptions "web-1" is invalid: [tailLines: Invalid value: -1: must be greater than '
        "or equal to 0, limitBytes: Invalid value: 0: must be greater than 0]"
    )
    with pytest.raises(StatusError) as err:
        parse_options({"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}, "web-1")
    assert "at most one of `sinceTime` or `sinceSeconds` may be specified" in err.value.message
    with pytest.raises(StatusError) as err:
        parse_options({"sinceSeconds": "0"}, "web-1")
    assert "sinceSeconds: Invalid value: 0: must be greater than 0" in err.value.message


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"tailLines": "ten"}, 'tailLines: invalid value "ten": must be an integer'),
        ({"follow": "yes"}, 'follow: invalid value "yes": must be true or false'),
        ({"sinceTime": "yesterday"}, 'sinceTime: invalid value "yesterday": must be an RFC 3339'),
    ],
)
def test_options_that_do_not_parse_are_bad_requests(query: dict[str, str], message: str) -> None:
    with pytest.raises(StatusError) as err:
        parse_options(query, "web-1")
    assert err.value.code == 400 and err.value.message.startswith(message)


def test_options_parse_as_go_does() -> None:
    opts = parse_options({"follow": "1", "previous": "False", "tailLines": "0"}, "p")
    assert (opts.follow, opts.previous, opts.tail_lines) == (True, False, 0)


def test_the_container_is_required_when_the_pod_has_several() -> None:
    two = pod(
        containers=[{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
        init=[{"name": "setup", "image": "x"}],
    )
    with pytest.raises(StatusError) as err:
        resolve_container(two, "")
    assert err.value.code == 400
    assert err.value.message == (
        "a container name must be specified for pod web-1, choose one of: [a b] "
        "or one of the init containers: [setup]"
    )
    assert resolve_container(two, "setup") == "setup"
    with pytest.raises(StatusError) as err:
        resolve_container(two, "c")
    assert err.value.message == "container c is not valid for pod web-1"
    assert resolve_container(pod(), "") == "app"


def test_tail_is_taken_before_since_as_the_kubelet_reads_the_file() -> None:
    log = cl.container_log(pod([running()]), "app", False, T0 + 600)  # 2 + 10 lines
    assert len(_select(log, LogOptions(tail_lines=3), T0 + 600)) == 3
    assert len(_select(log, LogOptions(since_seconds=150), T0 + 600)) == 3  # 480, 540, 600
    # the last 5 lines (360..600), of which those since 550 s: 600 only
    both = _select(log, LogOptions(tail_lines=5, since_seconds=50), T0 + 600)
    assert [x.at - T0 for x in both] == [600]
    assert _select(log, LogOptions(tail_lines=0), T0 + 600) == []


# -- the behaviour and the scenario ------------------------------------------------------------


def test_crash_log_must_be_one_line() -> None:
    with pytest.raises(BehaviourError, match="crashLog: Value error, must be one line"):
        parse_behaviour(json.dumps({"crashLog": "a\nb"}))
    assert PodBehaviour(crashLog="panic: x").crash_log == "panic: x"
    with pytest.raises(ValueError, match="must be one line"):
        Fault.model_validate(
            {"at": "1m", "type": "badRollout", "deployment": "a/b", "crashLog": "a\nb"}
        )
    with pytest.raises(ValueError, match="crashLog: does not apply to zoneOutage"):
        Fault.model_validate({"at": "1m", "type": "zoneOutage", "zone": "a", "crashLog": "x"})


def test_the_termination_message_keeps_the_last_80_lines_and_2048_bytes() -> None:
    p = pod()
    p["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    day = cl.Run("containerd://x", T0, T0 + 86_400, 1, "Error")
    message = cl.termination_message(p, "app", PodBehaviour(crashLog="boom"), day)
    assert message.endswith("uptime=86400s memory=32Mi\nboom\n")
    assert len(message.encode()) == 2048  # 80 lines are longer: the bytes limit cuts first
    short = cl.Run("containerd://x", T0, T0 + 90, 1, "Error")
    assert cl.termination_message(p, "app", PodBehaviour(), short).count("\n") == 4
    assert cl.termination_message(p, "app", PodBehaviour(), cl.Run("c", T0, T0 + 90)) == ""
    p["spec"]["containers"][0]["terminationMessagePolicy"] = "File"
    assert cl.termination_message(p, "app", PodBehaviour(), short) == ""
