"""kubeward guard protect against the simulator with its load model running: real kubectl
accepts the objects; --apply makes the culprit service account queue and get 429 while the
system components and the admin keep succeeding; re-applying changes nothing; --dry-run shows
the diff and writes nothing; --revert removes exactly the guard's objects and the culprit is
served again; refusals and errors exit non-zero with their reason."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from kubectlhelp import Kubectl, _debian_kubectl, kubeconfig_with_token, service_account_token
from kubeward.guard.apf import guard_name
from simproc import SimProcess, grant_cluster_role, start_sim

pytestmark = pytest.mark.e2e

AGENT = "system:serviceaccount:monitoring:agent"
AGENT_TOKEN = "agent-token-0123456789"
NAME = guard_name(AGENT)
FS = "flowschema.flowcontrol.apiserver.k8s.io"
PLC = "prioritylevelconfiguration.flowcontrol.apiserver.k8s.io"


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """A fiftieth of a core: the agent's LISTs take long enough to pile up in APF's queues."""
    tmp = tmp_path_factory.mktemp("guard")
    tokens = tmp / "tokens.csv"
    tokens.write_text(
        f'{AGENT_TOKEN},{AGENT},agent-uid,"system:serviceaccounts,system:serviceaccounts:monitoring"\n'
    )
    sim = start_sim(
        tmp, "--scenario", "tiny", "--apiserver-cores", "0.02", "--token-auth-file", str(tokens)
    )
    grant_cluster_role(sim, "view", AGENT)  # the agent lists pods, as a monitoring agent may
    yield sim
    sim.stop()


@pytest.fixture
def kubectl(slow_sim: SimProcess, tmp_path: Path) -> Kubectl:
    return Kubectl(_debian_kubectl(), slow_sim, tmp_path)


def guard(sim: SimProcess | Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kubeward guard protect`` as a separate process, through the kubeward CLI."""
    kubeconfig = sim.kubeconfig if isinstance(sim, SimProcess) else sim
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeward.cli",
            "guard",
            "protect",
            "--kubeconfig",
            str(kubeconfig),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def _flood(sim: SimProcess, n: int) -> list[httpx.Response]:
    """``n`` concurrent cluster-wide pod LISTs (no resourceVersion) as the agent."""
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    with httpx.Client(base_url=sim.server, verify=sim.ssl_context(), timeout=60) as client:
        client.get("/version")
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: client.get("/api/v1/pods", headers=headers), range(n)))


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _flow_objects(kubectl: Kubectl) -> dict[str, str]:
    """name -> resourceVersion of every FlowSchema and priority level."""
    out = kubectl("get", "flowschemas,prioritylevelconfigurations", "-o", "json").stdout
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for o in orjson.loads(out)["items"]
    }


def test_kubectl_accepts_the_generated_objects(slow_sim: SimProcess, kubectl: Kubectl) -> None:
    printed = guard(slow_sim, "--user", "jane@example.com")
    assert printed.returncode == 0, printed.stderr
    docs = list(yaml.safe_load_all(printed.stdout))
    assert [d["kind"] for d in docs] == ["PriorityLevelConfiguration", "FlowSchema"]
    name = docs[0]["metadata"]["name"]
    client_side = kubectl("apply", "--dry-run=client", "-f", "-", input=printed.stdout)
    assert f"{name} created (dry run)" in client_side.stdout
    applied = kubectl(
        "apply", "--server-side", "--field-manager=kubeward-guard", "-f", "-", input=printed.stdout
    )
    assert f"{FS}/{name} serverside-applied" in applied.stdout
    listed = kubectl("get", "flowschema", name, "-o", "json").stdout
    schema = orjson.loads(listed)
    assert schema["spec"]["matchingPrecedence"] == 1000
    dangling = {c["type"]: c["status"] for c in schema["status"]["conditions"]}
    assert dangling == {"Dangling": "False"}  # the level exists
    # the guard takes back what kubectl applied for it (same labels, same field manager)
    reverted = guard(slow_sim, "--user", "jane@example.com", "--revert")
    assert reverted.returncode == 0, reverted.stderr
    assert f"{FS}/{name} deleted" in reverted.stdout
    assert f"{PLC}/{name} deleted" in reverted.stdout
    assert kubectl("get", "flowschema", name, check=False).returncode != 0


def test_apply_throttles_the_culprit_revert_releases_it(
    slow_sim: SimProcess, kubectl: Kubectl
) -> None:
    before = _flow_objects(kubectl)
    assert f"FlowSchema/{NAME}" not in before
    # Without the guard the agent is in workload-low (245 seats): a burst is served.
    baseline = _flood(slow_sim, 30)
    assert [r.status_code for r in baseline] == [200] * 30
    assert {r.headers["X-Kubernetes-PF-FlowSchema-UID"] for r in baseline} == {
        kubectl("get", "flowschema", "service-accounts", "-o", "jsonpath={.metadata.uid}").stdout
    }

    # --dry-run: the whole objects as additions, and nothing written.
    dry = guard(slow_sim, "--service-account", "monitoring/agent", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"+++ {FS}/{NAME} (applied)" in dry.stdout
    assert f"+++ {PLC}/{NAME} (applied)" in dry.stdout
    assert "+  matchingPrecedence: 1000" in dry.stdout
    assert "+    nominalConcurrencyShares: 1" in dry.stdout
    assert _flow_objects(kubectl) == before

    applied = guard(slow_sim, "--service-account", "monitoring/agent", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        f"{PLC}/{NAME} serverside-applied (created)",
        f"{FS}/{NAME} serverside-applied (created)",
    ]
    schema = orjson.loads(kubectl("get", "flowschema", NAME, "-o", "json").stdout)
    fields = {m["manager"]: m["operation"] for m in schema["metadata"]["managedFields"]}
    assert fields["kubeward-guard"] == "Apply"
    assert schema["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubeward-guard"

    # Re-applying is a no-op: same resourceVersions, "unchanged", and an empty diff.
    after_apply = _flow_objects(kubectl)
    again = guard(slow_sim, "--service-account", "monitoring/agent", "--apply")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"{PLC}/{NAME} unchanged", f"{FS}/{NAME} unchanged"]
    assert _flow_objects(kubectl) == after_apply
    no_diff = guard(slow_sim, "--service-account", "monitoring/agent", "--dry-run")
    assert no_diff.returncode == 0 and no_diff.stdout == ""
    assert "No changes" in no_diff.stderr
    # A changed parameter shows as a one-line change, still without writing.
    changed = guard(slow_sim, "--service-account", "monitoring/agent", "--dry-run", "--shares", "2")
    assert "-    nominalConcurrencyShares: 1\n+    nominalConcurrencyShares: 2" in changed.stdout
    assert f"--- {PLC}/{NAME} (server)" in changed.stdout and FS not in changed.stdout
    assert _flow_objects(kubectl) == after_apply

    # The load model took the new objects at once: the agent queues, then gets 429.
    schema_uid = schema["metadata"]["uid"]
    admin_codes: list[int] = []

    def admin_traffic() -> None:  # system:masters: exempt, never queued or rejected
        for _ in range(3):
            admin_codes.append(kubectl("get", "nodes", check=False).returncode)

    admin = threading.Thread(target=admin_traffic)
    admin.start()
    responses = _flood(slow_sim, 50)
    admin.join()
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429}
    assert codes.count(429) >= 10 and codes.count(200) >= 3, codes
    rejected = next(r for r in responses if r.status_code == 429)
    assert rejected.headers["Retry-After"] == "1"
    assert rejected.json()["reason"] == "TooManyRequests"
    assert {r.headers["X-Kubernetes-PF-FlowSchema-UID"] for r in responses} == {schema_uid}
    assert admin_codes == [0, 0, 0]

    metrics = kubectl("get", "--raw", "/metrics").stdout
    ours = {"flow_schema": NAME, "priority_level": NAME}
    assert (
        _metric(
            metrics, "apiserver_flowcontrol_rejected_requests_total", **ours, reason="queue-full"
        )
        >= 10
    )
    queued = _metric(
        metrics, "apiserver_flowcontrol_request_wait_duration_seconds_count", **ours, execute="true"
    ) - _metric(
        metrics,
        "apiserver_flowcontrol_request_wait_duration_seconds_bucket",
        **ours,
        execute="true",
        le="0.0",
    )
    assert queued >= 1  # some waited in the guard's queues before they ran
    # seats: ceil(600 x 1 / (245 + 1)) = 3
    assert _metric(metrics, "apiserver_flowcontrol_nominal_limit_seats", priority_level=NAME) == 3
    # kubelets, controllers, CoreDNS: never rejected, still served
    assert _metric(metrics, "kubeward_sim_client_requests_total", system="true", code="429") == 0
    assert _metric(metrics, "kubeward_sim_client_requests_total", system="true", code="200") > 0

    # --revert deletes both, and the agent is back in workload-low at once.
    reverted = guard(slow_sim, "--service-account", "monitoring/agent", "--revert")
    assert reverted.returncode == 0, reverted.stderr
    assert reverted.stdout.splitlines() == [f"{FS}/{NAME} deleted", f"{PLC}/{NAME} deleted"]
    remaining = _flow_objects(kubectl)
    assert set(remaining) == set(before)
    assert [r.status_code for r in _flood(slow_sim, 20)] == [200] * 20
    # reverting again finds nothing and says so
    twice = guard(slow_sim, "--service-account", "monitoring/agent", "--revert")
    assert twice.returncode == 0
    assert "No guard objects" in twice.stderr


def test_objects_the_guard_does_not_manage_are_left_alone(
    slow_sim: SimProcess, kubectl: Kubectl
) -> None:
    name = guard_name("bob")
    kubectl(
        "create",
        "-f",
        "-",
        input=f"""
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {{name: {name}}}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 5
    limitResponse: {{type: Reject}}
""",
    )
    try:
        for action in ("--apply", "--revert", "--dry-run"):
            result = guard(slow_sim, "--user", "bob", action)
            assert result.returncode == 3, (action, result.stdout, result.stderr)
            assert "not managed by kubeward-guard" in result.stderr
        level = orjson.loads(
            kubectl("get", "prioritylevelconfiguration", name, "-o", "json").stdout
        )
        assert level["spec"]["limited"]["nominalConcurrencyShares"] == 5
        assert "labels" not in level["metadata"]
        assert kubectl("get", "flowschema", name, check=False).returncode != 0
    finally:
        kubectl("delete", "prioritylevelconfiguration", name)


@pytest.mark.parametrize(
    "args",
    [
        ["--user", "system:node:tiny-a-0"],
        ["--user", "admin", "--group", "system:masters"],
        ["--user", "system:admin"],
        ["--user", "system:apiserver"],
        ["--user", "system:kube-controller-manager"],
        ["--user", "system:kube-scheduler"],
        ["--service-account", "kube-system/coredns"],
        ["--user", "ci", "--group", "system:serviceaccounts:kube-system"],
        ["--user", "kubelet-legacy", "--group", "system:nodes"],
    ],
    ids=lambda a: " ".join(a),
)
def test_system_identities_are_refused_and_nothing_is_written(
    slow_sim: SimProcess, kubectl: Kubectl, args: list[str]
) -> None:
    before = _flow_objects(kubectl)
    result = guard(slow_sim, *args, "--apply")
    assert result.returncode == 3, result.stderr
    assert "refusing to throttle" in result.stderr
    assert "FlowSchema" in result.stderr
    assert result.stdout == ""
    assert _flow_objects(kubectl) == before


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    for action in ("--apply", "--revert", "--dry-run"):
        result = guard(kubeconfig, "--service-account", "monitoring/agent", action)
        assert result.returncode == 1, result.stderr
        message = " ".join(result.stderr.split())
        assert "cannot reach the API server at http://127.0.0.1:9" in message
        assert "Traceback" not in result.stderr
    missing = guard(tmp_path / "nope", "--service-account", "monitoring/agent", "--apply")
    assert missing.returncode == 1 and "nope" in missing.stderr
    # printing the YAML needs no cluster at all
    printed = guard(kubeconfig, "--service-account", "monitoring/agent")
    assert printed.returncode == 0 and "kind: FlowSchema" in printed.stdout


async def test_the_python_api_the_replay_calls(slow_sim: SimProcess) -> None:
    """What auto-protect uses: refusal, build, apply, diff, managed, revert_all."""
    from kubeward.client import connect
    from kubeward.guard import protect as ops
    from kubeward.guard.apf import Culprit, Limits, build
    from kubeward.guard.identities import refusal

    culprit = Culprit.service_account("telemetry", "collector")
    assert refusal(culprit.user, culprit.groups) is None
    objects = build(culprit, Limits(shares=2, queues=8, hand_size=4, queue_length=5))
    async with await connect(slow_sim.kubeconfig, agent="kubeward-guard") as api:
        assert "FlowSchema" in await ops.diff(api, objects)
        first = await ops.apply(api, objects)
        assert first.changed and first.shadowed_by == []
        assert [o.action for o in first.outcomes] == ["created", "created"]
        second = await ops.apply(api, objects)
        assert not second.changed
        assert await ops.diff(api, objects) == ""
        found = await ops.managed(api)
        assert [o["metadata"]["name"] for o in found["FlowSchema"]] == [objects.name]
        assert [o["metadata"]["name"] for o in found["PriorityLevelConfiguration"]] == [
            objects.name
        ]
        level = found["PriorityLevelConfiguration"][0]["spec"]["limited"]
        assert level["nominalConcurrencyShares"] == 2
        assert level["limitResponse"]["queuing"] == {
            "queues": 8,
            "handSize": 4,
            "queueLengthLimit": 5,
        }
        assert api.requests["patch", "flowschemas.flowcontrol.apiserver.k8s.io"] == 4
        removed = await ops.revert_all(api)
        assert [(o.kind, o.action) for o in removed] == [
            ("FlowSchema", "deleted"),
            ("PriorityLevelConfiguration", "deleted"),
        ]
        assert await ops.managed(api) == {"FlowSchema": [], "PriorityLevelConfiguration": []}


# The rules docs/guard.md says --apply and --revert need, and nothing else.
GUARD_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "kubeward-guard-protect"},
    "rules": [
        {
            "apiGroups": ["flowcontrol.apiserver.k8s.io"],
            "resources": ["flowschemas", "prioritylevelconfigurations"],
            "verbs": ["get", "list", "patch", "delete"],
        }
    ],
}


def test_the_documented_rbac_is_enough_to_apply_and_revert(sim: SimProcess, tmp_path: Path) -> None:
    """A service account bound to exactly the documented rules throttles and releases a
    client; without ``patch`` the apply is refused with the API server's message and the
    rule to grant."""
    admin = Kubectl(_debian_kubectl(), sim, tmp_path)
    ns = f"guard-{abs(hash(tmp_path)) % 10**6}"
    admin("create", "namespace", ns)
    admin("create", "serviceaccount", "guard", "-n", ns)
    role = {**GUARD_ROLE, "metadata": {"name": f"{ns}-protect"}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{ns}-protect"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": f"{ns}-protect",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "guard", "namespace": ns}],
    }
    admin("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))
    token = service_account_token(admin, ns, "guard")["token"]
    kubeconfig = kubeconfig_with_token(sim, token, tmp_path / "guard.kubeconfig")
    culprit = f"system:serviceaccount:{ns}:agent"

    applied = guard(kubeconfig, "--user", culprit, "--apply")
    assert applied.returncode == 0, applied.stderr
    assert guard_name(culprit) in admin("get", "flowschemas", "-o", "name").stdout
    reverted = guard(kubeconfig, "--user", culprit, "--revert")
    assert reverted.returncode == 0, reverted.stderr
    assert guard_name(culprit) not in admin("get", "flowschemas", "-o", "name").stdout

    role["rules"] = [{**role["rules"][0], "verbs": ["get", "list", "delete"]}]
    admin("apply", "-f", "-", input=yaml.safe_dump(role))
    refused = guard(kubeconfig, "--user", culprit, "--apply")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    err = " ".join(refused.stderr.split())
    assert f'User "system:serviceaccount:{ns}:guard" cannot patch resource' in err
    assert 'verbs: ["patch"]' in err
    assert guard_name(culprit) not in admin("get", "flowschemas", "-o", "name").stdout
