"""Which identities the guard must never throttle, and why.

A FlowSchema that routes a Kubernetes component to a small priority level turns API-server
overload into a cluster outage: kubelets miss their lease renewals, controllers lose leader
election, CoreDNS and kube-proxy stop following Services. kube-apiserver's own bootstrap
configuration gives these identities dedicated FlowSchemas for that reason; ``refusal`` names
them (computed from ``kubeward.kube.flowcontrol_defaults``, the same objects the simulator
creates) and the risk.

Usernames follow the authenticators: ``system:serviceaccount:<namespace>:<name>`` for service
accounts (groups ``system:serviceaccounts`` and ``system:serviceaccounts:<namespace>``),
``system:node:<node>`` for kubelets (group ``system:nodes``).
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeward.kube.flowcontrol import (
    FlowSchema,
    Identity,
    service_account_groups,
    subjects_match,
)
from kubeward.kube.flowcontrol_defaults import flow_schemas

SA_PREFIX = "system:serviceaccount:"
NODE_PREFIX = "system:node:"
KUBE_SYSTEM = "kube-system"
AUTHENTICATED = "system:authenticated"


def service_account_user(namespace: str, name: str) -> str:
    """The username the service-account authenticator gives ``namespace/name``."""
    return f"{SA_PREFIX}{namespace}:{name}"


def parse_service_account_user(user: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a service account's username, else None."""
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] and all(parts[2:]):
        return parts[2], parts[3]
    return None


def authenticated_groups(user: str, groups: Sequence[str] = ()) -> tuple[str, ...]:
    """The groups kube-apiserver's authenticators attach to ``user`` on top of ``groups``:
    service accounts get theirs, kubelets ``system:nodes``, kube-apiserver's loopback client
    ``system:masters``, everyone ``system:authenticated``."""
    implied: list[str] = list(service_account_groups(user))
    if user.startswith(NODE_PREFIX):
        implied.append("system:nodes")
    if user in ("system:apiserver", "system:admin"):
        implied.append("system:masters")  # loopback client; OpenShift's superuser
    if user != "system:anonymous":
        implied.append(AUTHENTICATED)
    return tuple(dict.fromkeys([*groups, *implied]))


def system_flow_schemas(user: str, groups: Sequence[str] = ()) -> list[FlowSchema]:
    """kube-apiserver's bootstrap FlowSchemas that single out this identity: those whose
    subjects name it, minus the ones every authenticated user falls under (global-default,
    catch-all, probes). In matching order."""
    schemas = [FlowSchema.of(o) for o in flow_schemas()]
    who = Identity(user, authenticated_groups(user, groups))
    anyone = Identity("kubeward:ordinary-user", (AUTHENTICATED,))
    return sorted(
        (s for s in schemas if subjects_match(s, who) and not subjects_match(s, anyone)),
        key=lambda s: (s.precedence, s.name),
    )


def _schemas_text(schemas: list[FlowSchema]) -> str:
    if not schemas:
        return ""
    names = ", ".join(
        f'"{s.name}" (matchingPrecedence {s.precedence}, priority level "{s.level}")'
        for s in schemas
    )
    noun = "FlowSchema" if len(schemas) == 1 else "FlowSchemas"
    return f" Its requests are classified by kube-apiserver's {noun} {names}."


def refusal(user: str, groups: Sequence[str] = ()) -> str | None:
    """Why the guard must not throttle this identity, or None when it may.

    ``groups`` are the identity's groups as an audit log records them; the ones the
    authenticators imply (service-account and node groups) are added. The reason names the
    FlowSchemas kube-apiserver gives the identity and what throttling it would break."""
    user = user.strip()
    all_groups = authenticated_groups(user, groups)
    head = f'refusing to throttle "{user}": '
    schemas = _schemas_text(system_flow_schemas(user, groups))

    if not user or user == "*" or "*" in groups:
        return (
            f'refusing to throttle "{user}": not a single identity ("*" and empty names '
            "match every client, including the control plane's own). Name one user or "
            "service account."
        )
    if "system:masters" in all_groups or user in ("system:admin", "system:apiserver"):
        what = {
            "system:apiserver": "kube-apiserver's own loopback client",
            "system:admin": "the cluster's superuser",
        }.get(user, "a member of the system:masters group (cluster superusers)")
        return (
            head + what + "." + schemas + " "
            "Requests of system:masters are exempt from API Priority and Fairness through the "
            'mandatory FlowSchema "exempt" (matchingPrecedence 1, which only that schema may '
            "have), so no FlowSchema of the guard can come before it; and throttling the "
            "administrators would lock out the people fixing the outage. Revoke or rotate the "
            "credential instead if it is being misused."
        )
    if user.startswith(NODE_PREFIX) or "system:nodes" in all_groups:
        return (
            head + "a kubelet (node identity, group system:nodes)." + schemas + " Throttling "
            "kubelets delays their node lease renewals and status updates: nodes whose lease "
            "is not renewed within the node-monitor grace period (40 s) are marked NotReady "
            "and their pods evicted, turning API-server overload into a cluster-wide outage. "
            "If one node misbehaves, cordon and drain it or fix its kubelet."
        )
    if user in ("system:kube-controller-manager", "system:kube-scheduler"):
        component = user.removeprefix("system:")
        return (
            head + f"{component}, a control-plane component." + schemas + " Throttling it "
            "delays its leader-election lease renewals: it loses leadership and restarts, and "
            "meanwhile "
            + (
                "no controller reconciles (Deployments, endpoints, node lifecycle, garbage "
                "collection)."
                if component == "kube-controller-manager"
                else "no pod is scheduled."
            )
        )
    sa = parse_service_account_user(user)
    if (sa is not None and sa[0] == KUBE_SYSTEM) or (
        f"system:serviceaccounts:{KUBE_SYSTEM}" in all_groups
    ):
        if sa is None:  # a member of the group: name what kube-system's accounts use
            schemas = _schemas_text(
                system_flow_schemas(service_account_user(KUBE_SYSTEM, "any"))
            ).replace(" Its requests are", " Service accounts in kube-system are")
        return (
            head + "a service account in kube-system, where the cluster's own controllers "
            "and add-ons run (CoreDNS, kube-proxy, the CNI plugin, controllers started with "
            "--use-service-account-credentials)." + schemas + " Throttling them breaks DNS, "
            "Service routing or reconciliation for every workload. If a kube-system add-on is "
            "the culprit, fix its configuration or version instead."
        )
    if user == "system:kube-proxy":
        return (
            head + "kube-proxy (certificate identity)." + schemas + " Throttling it stops "
            "Service and EndpointSlice updates from reaching the nodes' forwarding rules: "
            "traffic goes to pods that no longer exist."
        )
    if user.startswith("system:bootstrap:") or "system:bootstrappers" in all_groups:
        return (
            head + "a bootstrap token (group system:bootstrappers), used by new nodes to "
            "request their kubelet certificates." + schemas + " Throttling it stops nodes "
            "from joining; revoke the token if it is misused."
        )
    if user == "system:anonymous" or "system:unauthenticated" in all_groups:
        return (
            head + "every unauthenticated client (load-balancer health checks, cluster-info "
            'discovery); its health probes are exempt through the FlowSchema "probes". '
            "Disable anonymous authentication (--anonymous-auth=false) or restrict it with "
            "RBAC instead of throttling it."
        )
    if user.startswith("system:") and sa is None:
        return (
            head
            + 'names with the "system:" prefix are reserved for Kubernetes components.'
            + schemas
            + " Throttling a component of the control plane risks the cluster; find the "
            "component's configuration instead."
        )
    return None
