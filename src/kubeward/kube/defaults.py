"""Server-side defaulting, as kube-apiserver applies it (v1.31).

Order: Kubernetes defaults an object while decoding the request, then runs admission, then
validates. So the API layer calls ``apply_defaults`` on create *and* on update, before
``validation.validate_object`` / ``validate_update``; validation also accepts undefaulted
input.

What is covered, beyond the ``SetDefaults_*`` functions of the API groups:

* create-time strategy and admission mutations that every real cluster applies to Pods
  (ServiceAccount, Priority and DefaultTolerationSeconds admission plugins; pod status
  ``phase: Pending`` and ``qosClass``) and to Namespaces (``spec.finalizers: [kubernetes]``).
  These run only on create. ``create`` defaults to "the object has no ``metadata.uid`` yet":
  the API layer assigns the UID after defaulting on create and carries it over on update.
* Job selectors: generating ``spec.selector`` and the controller-uid/job-name template labels
  needs the UID, which does not exist yet when defaulting runs on create (and doing it on
  update would trip the selector immutability check). So ``apply_defaults`` never does it;
  the API layer may call ``generate_job_selector`` right after assigning the UID on create.
  That is optional: validation only requires a selector when ``spec.manualSelector`` is true.

Not done here: clusterIP/nodePort allocation (API layer), the ServiceAccount token volume the
ServiceAccount admission plugin mounts (its name is random), and ``metadata.generateName``.

Every function tolerates malformed input (wrong JSON types are left alone for validation to
report); nothing here raises.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubeward.kube.priority import SYSTEM_PRIORITIES, default_priority_class
from kubeward.kube.quantity import Quantity, QuantityError

__all__ = [
    "apply_defaults",
    "default_container",
    "default_pod_spec",
    "default_pod_template",
    "generate_job_selector",
    "image_pull_policy",
    "pod_qos_class",
]

_FC = "flowcontrol.apiserver.k8s.io"
_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300


def _child(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    """parent[key] as a dict, created if absent; None if it holds something else."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else None


def _dicts(parent: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = parent.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _setdefault(d: dict[str, Any], key: str, value: Any) -> None:
    # Go zero values count as unset for non-pointer fields: "" and missing are the same.
    if d.get(key) in (None, ""):
        d[key] = value


# --- pods ---------------------------------------------------------------------------------


def image_pull_policy(image: Any) -> str:
    """SetDefaults_Container: Always for ``:latest`` or untagged images, else IfNotPresent."""
    if not isinstance(image, str):
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = name[colon + 1 :] if colon > last_slash else ""
    repo = name[:colon] if colon > last_slash else name
    if repo != repo.lower():
        return "IfNotPresent"  # unparsable reference: Kubernetes sees no tag
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if probe.get(key) in (None, 0):
            probe[key] = value
    _default_handler(probe)


def _default_handler(handler: Any) -> None:
    if not isinstance(handler, dict):
        return
    http_get = handler.get("httpGet")
    if isinstance(http_get, dict):
        _setdefault(http_get, "path", "/")
        _setdefault(http_get, "scheme", "HTTP")


def _default_field_ref(holder: Any) -> None:
    if isinstance(holder, dict) and isinstance(holder.get("fieldRef"), dict):
        _setdefault(holder["fieldRef"], "apiVersion", "v1")


def default_container(ctr: dict[str, Any]) -> None:
    """SetDefaults_Container, _ContainerPort, _Probe, _HTTPGetAction, _ObjectFieldSelector."""
    _setdefault(ctr, "terminationMessagePath", "/dev/termination-log")
    _setdefault(ctr, "terminationMessagePolicy", "File")
    if ctr.get("imagePullPolicy") in (None, ""):
        ctr["imagePullPolicy"] = image_pull_policy(ctr.get("image"))
    for port in _dicts(ctr, "ports"):
        _setdefault(port, "protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(ctr.get(key))
    lifecycle = ctr.get("lifecycle")
    if isinstance(lifecycle, dict):
        _default_handler(lifecycle.get("postStart"))
        _default_handler(lifecycle.get("preStop"))
    for env in _dicts(ctr, "env"):
        _default_field_ref(env.get("valueFrom"))


def _default_volume(vol: dict[str, Any]) -> None:
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = vol.get(key)
        if isinstance(source, dict) and source.get("defaultMode") is None:
            source["defaultMode"] = 0o644  # 420, as kubectl shows it
    downward = vol.get("downwardAPI")
    if isinstance(downward, dict):
        for item in _dicts(downward, "items"):
            _default_field_ref(item)
    projected = vol.get("projected")
    if isinstance(projected, dict):
        for source in _dicts(projected, "sources"):
            if isinstance(source.get("downwardAPI"), dict):
                for item in _dicts(source["downwardAPI"], "items"):
                    _default_field_ref(item)
            token = source.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
    host_path = vol.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec plus container and volume defaults: what pod templates get."""
    _setdefault(spec, "dnsPolicy", "ClusterFirst")
    _setdefault(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    _setdefault(spec, "schedulerName", "default-scheduler")
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for ctr in _dicts(spec, key):
            default_container(ctr)
    for vol in _dicts(spec, "volumes"):
        _default_volume(vol)


def default_pod_template(template: Any) -> None:
    """Pod-template defaulting, used for every workload's template."""
    if not isinstance(template, dict):
        return
    spec = _child(template, "spec")
    if spec is not None:
        default_pod_spec(spec)


def _copy_limits_to_requests(ctr: dict[str, Any]) -> None:
    # SetDefaults_Pod: a limit without a request means request == limit (Pods only, not
    # templates), key by key.
    resources = ctr.get("resources")
    if not isinstance(resources, dict):
        return
    limits = resources.get("limits")
    if not isinstance(limits, dict) or not limits:
        return
    requests = resources.get("requests")
    if requests is None:
        requests = resources["requests"] = {}
    if isinstance(requests, dict):
        for name, value in limits.items():
            requests.setdefault(name, value)


def _tolerates(tolerations: list[dict[str, Any]], key: str) -> bool:
    return any(
        t.get("key") in (key, "", None) and t.get("effect") in ("NoExecute", "", None)
        for t in tolerations
    )


def _pod_admission(spec: dict[str, Any]) -> None:
    """ServiceAccount, Priority and DefaultTolerationSeconds admission plugins."""
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if sa in (None, ""):
        sa = "default"
    if isinstance(sa, str):
        _setdefault(spec, "serviceAccountName", sa)
        _setdefault(spec, "serviceAccount", spec.get("serviceAccountName"))
    if spec.get("priority") is None:
        # The API server's Priority admission (kubeward.kube.priority.admit_pod) resolves the
        # class before defaulting; this is the fallback without a PriorityClass lister.
        spec["priority"] = SYSTEM_PRIORITIES.get(str(spec.get("priorityClassName")), 0)
    _setdefault(spec, "preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = spec["tolerations"] = []
    if not isinstance(tolerations, list):
        return
    present = [t for t in tolerations if isinstance(t, dict)]
    for key in (_NOT_READY, _UNREACHABLE):
        if not _tolerates(present, key):
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )


def _default_pod(pod: dict[str, Any], create: bool) -> None:
    spec = _child(pod, "spec")
    if spec is None:
        return
    for key in ("containers", "initContainers"):
        for ctr in _dicts(spec, key):
            _copy_limits_to_requests(ctr)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork") is True:
        for key in ("containers", "initContainers"):
            for ctr in _dicts(spec, key):
                for port in _dicts(ctr, "ports"):
                    if port.get("hostPort") in (None, 0):
                        port["hostPort"] = port.get("containerPort")
    default_pod_spec(spec)
    if create:
        # Admission plugins act on create only: a replacement Pod that drops these fields is
        # a spec change, as in Kubernetes.
        _pod_admission(spec)
        status = pod.get("status")
        if not isinstance(status, dict):
            status = pod["status"] = {}
        _setdefault(status, "phase", "Pending")
        status["qosClass"] = pod_qos_class(pod)


# --- QoS ------------------------------------------------------------------------------------

_QOS_RESOURCES = ("cpu", "memory")


def _positive(value: Any) -> Decimal | None:
    try:
        amount = Quantity.parse(value).amount
    except (QuantityError, ValueError, ArithmeticError, TypeError):
        return None
    return amount if amount > 0 else None


def pod_qos_class(pod: Any) -> str:
    """qos.GetPodQOS: Guaranteed, Burstable or BestEffort from containers' requests/limits.

    Expects requests already defaulted from limits (as they are for a stored Pod); values that
    do not parse are ignored.
    """
    spec = pod.get("spec") if isinstance(pod, dict) else None
    if not isinstance(spec, dict):
        return "BestEffort"
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for key in ("containers", "initContainers"):
        for ctr in _dicts(spec, key):
            resources = ctr.get("resources")
            resources = resources if isinstance(resources, dict) else {}
            for bucket, total in (("requests", requests), ("limits", limits)):
                found = set()
                values = resources.get(bucket)
                for name, raw in values.items() if isinstance(values, dict) else ():
                    if name not in _QOS_RESOURCES:
                        continue
                    amount = _positive(raw)
                    if amount is not None:
                        found.add(name)
                        total[name] = total.get(name, Decimal(0)) + amount
                if bucket == "limits" and not found >= set(_QOS_RESOURCES):
                    guaranteed = False  # every container needs both cpu and memory limits
    if not requests and not limits:
        return "BestEffort"
    matched = all(limits.get(name) == amount for name, amount in requests.items())
    if guaranteed and matched and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


# --- workloads ------------------------------------------------------------------------------


def _default_deployment(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _child(spec, "strategy")
    if strategy is not None:
        _setdefault(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = _child(strategy, "rollingUpdate")
            if rolling is not None:
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    default_pod_template(spec.get("template"))


def _default_replicaset(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_pod_template(spec.get("template"))


def _default_pvc_spec(spec: Any) -> None:
    if isinstance(spec, dict):
        _setdefault(spec, "volumeMode", "Filesystem")


def _default_statefulset(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _setdefault(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    if strategy is not None:
        if strategy.get("type") in (None, ""):
            strategy["type"] = "RollingUpdate"
            strategy.setdefault("rollingUpdate", {})
        rolling = strategy.get("rollingUpdate")
        if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
            rolling.setdefault("partition", 0)
    # StatefulSetAutoDeletePVC (beta, on by default since 1.27): the policy itself is defaulted.
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is None:
        retention = spec["persistentVolumeClaimRetentionPolicy"] = {}
    if isinstance(retention, dict):
        _setdefault(retention, "whenDeleted", "Retain")
        _setdefault(retention, "whenScaled", "Retain")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    for claim in _dicts(spec, "volumeClaimTemplates"):
        _default_pvc_spec(claim.get("spec"))
    default_pod_template(spec.get("template"))


def _default_daemonset(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    strategy = _child(spec, "updateStrategy")
    if strategy is not None:
        _setdefault(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = _child(strategy, "rollingUpdate")
            if rolling is not None:
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 0)
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    default_pod_template(spec.get("template"))


# Labels Kubernetes puts on a Job's pods (batch/v1 constants).
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME_LABEL = "job-name"


def generate_job_selector(job: Any) -> None:
    """The Job strategy's generateSelector: needs ``metadata.name`` and ``metadata.uid``.

    Skipped for ``spec.manualSelector: true`` or a Job without UID. Also copies the template
    labels to the Job's own labels when it has none (SetDefaults_Job).
    """
    if not isinstance(job, dict):
        return
    meta, spec = job.get("metadata"), job.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return
    uid, name = meta.get("uid"), meta.get("name")
    if spec.get("manualSelector") is True or not isinstance(uid, str) or not uid:
        return
    template = _child(spec, "template")
    tmeta = _child(template, "metadata") if template is not None else None
    labels = _child(tmeta, "labels") if tmeta is not None else None
    if labels is None:
        return
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, str(name or ""))
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, uid)
    selector = _child(spec, "selector")
    match_labels = _child(selector, "matchLabels") if selector is not None else None
    if match_labels is not None:
        match_labels.setdefault(CONTROLLER_UID_LABEL, uid)
    if not meta.get("labels"):
        meta["labels"] = dict(labels)


def _default_job(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    _setdefault(spec, "completionMode", "NonIndexed")
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("podReplacementPolicy") is None:
        failure_policy = spec.get("podFailurePolicy") is not None
        spec["podReplacementPolicy"] = "Failed" if failure_policy else "TerminatingOrFailed"
    default_pod_template(spec.get("template"))
    meta = obj.get("metadata")
    template = spec.get("template")
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    tlabels = tmeta.get("labels") if isinstance(tmeta, dict) else None
    if isinstance(meta, dict) and isinstance(tlabels, dict) and tlabels and not meta.get("labels"):
        meta["labels"] = dict(tlabels)  # SetDefaults_Job


def _default_cronjob(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _setdefault(spec, "concurrencyPolicy", "Allow")
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
        default_pod_template(job_template["spec"].get("template"))


# --- core/v1 --------------------------------------------------------------------------------


def _default_service(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    _setdefault(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    _setdefault(spec, "type", "ClusterIP")
    stype = spec.get("type")
    for port in _dicts(spec, "ports"):
        _setdefault(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if stype in ("NodePort", "LoadBalancer") or (stype == "ClusterIP" and spec.get("externalIPs")):
        _setdefault(spec, "externalTrafficPolicy", "Cluster")
    if stype in ("ClusterIP", "NodePort", "LoadBalancer"):
        _setdefault(spec, "internalTrafficPolicy", "Cluster")
        # Set by the REST storage in a single-stack IPv4 cluster (kubeward simulates one).
        _setdefault(spec, "ipFamilyPolicy", "SingleStack")
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True


def _default_namespace(obj: dict[str, Any], create: bool) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str) and meta["name"]:
        labels = _child(meta, "labels")
        if labels is not None:
            labels["kubernetes.io/metadata.name"] = meta["name"]  # always overwritten
    if create:
        # Create-only (namespace strategy): the finalize subresource may later remove it.
        spec = _child(obj, "spec")
        if spec is not None:
            finalizers = spec.get("finalizers")
            if finalizers is None:
                spec["finalizers"] = ["kubernetes"]
            elif isinstance(finalizers, list) and "kubernetes" not in finalizers:
                finalizers.append("kubernetes")
    status = _child(obj, "status")
    if status is not None:
        _setdefault(status, "phase", "Active")


def _default_pvc(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is not None:
        _default_pvc_spec(spec)
    status = _child(obj, "status")
    if status is not None:
        _setdefault(status, "phase", "Pending")


def _default_pv(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is not None:
        _setdefault(spec, "persistentVolumeReclaimPolicy", "Retain")
        _setdefault(spec, "volumeMode", "Filesystem")
    status = _child(obj, "status")
    if status is not None:
        _setdefault(status, "phase", "Pending")


def default_limit_range(obj: Any) -> None:
    """SetDefaults_LimitRangeItem, in place: for Container items, ``default`` from ``max``,
    then ``defaultRequest`` from ``default``, then from ``min``."""
    spec = obj.get("spec") if isinstance(obj, dict) else None
    items = spec.get("limits") if isinstance(spec, dict) else None
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        default, request = _child(item, "default"), _child(item, "defaultRequest")
        if default is None or request is None:
            continue  # validation reports the type
        for key, value in _mapping(item.get("max")).items():
            default.setdefault(key, value)
        for key, value in default.items():
            request.setdefault(key, value)
        for key, value in _mapping(item.get("min")).items():
            request.setdefault(key, value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _default_storage_class(obj: dict[str, Any]) -> None:
    _setdefault(obj, "reclaimPolicy", "Delete")
    _setdefault(obj, "volumeBindingMode", "Immediate")


def _default_secret(obj: dict[str, Any]) -> None:
    _setdefault(obj, "type", "Opaque")


def _default_endpoints(obj: dict[str, Any]) -> None:
    for subset in _dicts(obj, "subsets"):
        for port in _dicts(subset, "ports"):
            _setdefault(port, "protocol", "TCP")


# --- autoscaling, flowcontrol, apiextensions -----------------------------------------------


def _scale_up_rules() -> dict[str, Any]:
    return {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    }


def _scale_down_rules() -> dict[str, Any]:
    # No stabilizationWindowSeconds: the controller's --horizontal-pod-autoscaler-downscale-
    # stabilization flag (300s) applies when unset.
    return {
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }


def _default_hpa(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for key, rules in (("scaleUp", _scale_up_rules()), ("scaleDown", _scale_down_rules())):
            given = behavior.get(key)
            if isinstance(given, dict):
                # copyHPAScalingRules: user fields win, the rest come from the defaults.
                rules.update({k: v for k, v in given.items() if v is not None})
            if given is None or isinstance(given, dict):
                behavior[key] = rules


def _default_flowschema(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is not None and spec.get("matchingPrecedence") in (None, 0):
        spec["matchingPrecedence"] = 1000


def _default_plc(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    if spec.get("type") == "Exempt":
        exempt = _child(spec, "exempt")
        if exempt is not None:
            exempt.setdefault("nominalConcurrencyShares", 0)
            exempt.setdefault("lendablePercent", 0)
        return
    limited = spec.get("limited")
    if not isinstance(limited, dict):
        return
    if limited.get("nominalConcurrencyShares") is None:
        limited["nominalConcurrencyShares"] = 30
    if limited.get("lendablePercent") is None:
        limited["lendablePercent"] = 0
    response = limited.get("limitResponse")
    queuing = response.get("queuing") if isinstance(response, dict) else None
    # Like Kubernetes, only a present queuing block is filled in; a Queue response without
    # one is a validation error ("must not be empty ...").
    if isinstance(queuing, dict):
        for key, value in (("handSize", 8), ("queues", 64), ("queueLengthLimit", 50)):
            if queuing.get(key) in (None, 0):
                queuing[key] = value


def _default_crd(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is None:
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        _setdefault(names, "singular", names["kind"].lower())
        _setdefault(names, "listKind", names["kind"] + "List")
    if spec.get("conversion") is None:
        spec["conversion"] = {"strategy": "None"}


# --- entry point ----------------------------------------------------------------------------


def _default_rbac_binding(obj: dict[str, Any]) -> None:
    """rbac/v1 SetDefaults_RoleBinding / _ClusterRoleBinding / _Subject: the roleRef's group,
    and a User or Group subject's (a ServiceAccount is in the core group, "")."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = "rbac.authorization.k8s.io"
    subjects = obj.get("subjects")
    for subject in subjects if isinstance(subjects, list) else []:
        is_person = isinstance(subject, dict) and subject.get("kind") in ("User", "Group")
        if is_person and not subject.get("apiGroup"):
            subject["apiGroup"] = "rbac.authorization.k8s.io"


_SIMPLE = {
    ("apps", "Deployment"): _default_deployment,
    ("apps", "ReplicaSet"): _default_replicaset,
    ("apps", "StatefulSet"): _default_statefulset,
    ("apps", "DaemonSet"): _default_daemonset,
    ("batch", "Job"): _default_job,
    ("batch", "CronJob"): _default_cronjob,
    ("", "Service"): _default_service,
    ("", "PersistentVolumeClaim"): _default_pvc,
    ("", "PersistentVolume"): _default_pv,
    ("", "Secret"): _default_secret,
    ("", "Endpoints"): _default_endpoints,
    ("", "LimitRange"): default_limit_range,
    ("storage.k8s.io", "StorageClass"): _default_storage_class,
    ("autoscaling", "HorizontalPodAutoscaler"): _default_hpa,
    (_FC, "FlowSchema"): _default_flowschema,
    (_FC, "PriorityLevelConfiguration"): _default_plc,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _default_crd,
    ("scheduling.k8s.io", "PriorityClass"): default_priority_class,
    ("rbac.authorization.k8s.io", "RoleBinding"): _default_rbac_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _default_rbac_binding,
}


def apply_defaults(group: str, kind: str, obj: Any, *, create: bool | None = None) -> None:
    """Fill in server-side defaults in place. Call before validating, on create and update.

    ``create`` selects the create-only mutations (Pod status, Namespace finalizer); when
    omitted it is inferred from the absence of ``metadata.uid``.
    """
    if not isinstance(obj, dict):
        return
    if create is None:
        meta = obj.get("metadata")
        create = not (isinstance(meta, dict) and meta.get("uid"))
    if (group, kind) == ("", "Pod"):
        _default_pod(obj, create)
    elif (group, kind) == ("", "Namespace"):
        _default_namespace(obj, create)
    else:
        fn = _SIMPLE.get((group, kind))
        if fn is not None:
            fn(obj)
