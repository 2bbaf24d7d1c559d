"""Validation parity tests: paths, reasons and messages as kube-apiserver v1.31 prints them."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kubeward.kube.defaults import apply_defaults
from kubeward.kube.registry import BUILTIN
from kubeward.kube.validation import (
    config_map_key,
    cron_schedule_error,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    label_value,
    port_name,
    qualified_name,
    validate_object,
    validate_update,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)
POD_FORBIDDEN = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)\n"
)


# --- name validators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "value", "expected"),
    [
        (dns1123_subdomain, "example.com", []),
        (dns1123_subdomain, "a" * 253, []),
        (dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
        (dns1123_subdomain, "Example", [SUBDOMAIN_MSG]),
        (dns1123_subdomain, "a..b", [SUBDOMAIN_MSG]),
        (dns1123_subdomain, "ok\n", [SUBDOMAIN_MSG]),  # Go's $ does not accept a newline
        (dns1123_label, "my-name", []),
        (dns1123_label, "a.b", ["must not contain dots"]),
        (dns1123_label, "-a", [LABEL_MSG]),
        (dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
        (dns1035_label, "1abc", [DNS1035_MSG]),
        (dns1035_label, "abc-1", []),
        (qualified_name, "example.com/MyName", []),
        (qualified_name, "a/", ["name part must be non-empty", NAME_PART_MSG]),
        (qualified_name, "/a", ["prefix part must be non-empty"]),
        (qualified_name, "Bad_/x", ["prefix part " + SUBDOMAIN_MSG]),
        (qualified_name, "-x", [NAME_PART_MSG]),
        (qualified_name, "x" * 64, ["name part must be no more than 63 characters"]),
        (
            qualified_name,
            "a/b/c",
            [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                "'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"
            ],
        ),
        (label_value, "", []),
        (label_value, "v1.2_x", []),
        (label_value, "-v", [LABEL_VALUE_MSG]),
        (config_map_key, "app.properties", []),
        (config_map_key, "a b", [CONFIG_KEY_MSG]),
        (config_map_key, "..x", ["must not start with '..'"]),
        (port_name, "http", []),
        (
            port_name,
            "-9",
            [
                "must contain at least one letter (a-z)",
                "must not begin or end with a hyphen",
            ],
        ),
    ],
)
def test_name_validators(fn: Any, value: str, expected: list[str]) -> None:
    assert fn(value) == expected


_K8S_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_PART = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="ab9-.Z_\n ", max_size=40),
        st.text(max_size=20),
        st.from_regex(_K8S_SUBDOMAIN, fullmatch=True),
        st.lists(_LABEL_PART, min_size=1, max_size=20).map(".".join),
    )
)
def test_dns1123_subdomain_matches_regex_and_length(value: str) -> None:
    ok = _K8S_SUBDOMAIN.fullmatch(value) is not None and len(value.encode()) <= 253
    assert (dns1123_subdomain(value) == []) == ok


# --- create -------------------------------------------------------------------------------


def errors(group: str, kind: str, obj: Any, namespaced: bool = True) -> list[tuple[str, str]]:
    return [(e.type, e.message()) for e in validate_object(group, kind, obj, namespaced=namespaced)]


def container(name: str = "c", image: str = "nginx:1.27", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def pod(**spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [container()])
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": spec}


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"matchLabels": {"app": "x"}})
    spec.setdefault(
        "template", {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [container()]}}
    )
    return {"metadata": {"name": kind.lower(), "namespace": "default"}, "spec": spec}


def job(**spec: Any) -> dict[str, Any]:
    spec.setdefault(
        "template",
        {"spec": {"containers": [container()], "restartPolicy": "Never"}},
    )
    return {"metadata": {"name": "j", "namespace": "default"}, "spec": spec}


def service(**spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"port": 80}])
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def meta(name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", **extra}


def plc(**limited: Any) -> dict[str, Any]:
    limited.setdefault("limitResponse", {"type": "Reject"})
    return {"metadata": {"name": "pl"}, "spec": {"type": "Limited", "limited": limited}}


def flowschema(**spec: Any) -> dict[str, Any]:
    spec.setdefault("priorityLevelConfiguration", {"name": "workload-low"})
    spec.setdefault("matchingPrecedence", 1000)
    return {"metadata": {"name": "fs"}, "spec": spec}


REQ = "FieldValueRequired"
INV = "FieldValueInvalid"
UNS = "FieldValueNotSupported"
DUP = "FieldValueDuplicate"
FORB = "FieldValueForbidden"
LONG = "FieldValueTooLong"

CREATE_CASES: list[tuple[str, str, str, Any, list[tuple[str, str]]]] = [
    (
        "missing-name",
        "",
        "ConfigMap",
        {"metadata": {"namespace": "default"}},
        [(REQ, "metadata.name: Required value: name or generateName is required")],
    ),
    ("generate-name-only", "", "ConfigMap", {"metadata": {"generateName": "cm-"}}, []),
    (
        "bad-generate-name",
        "",
        "ConfigMap",
        {"metadata": {"generateName": "CM-"}},
        [(INV, f'metadata.generateName: Invalid value: "CM-": {SUBDOMAIN_MSG}')],
    ),
    (
        "bad-name",
        "",
        "Pod",
        {**pod(), "metadata": meta("Bad_Name")},
        [(INV, f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}')],
    ),
    (
        "namespace-name-is-label",
        "",
        "Namespace",
        {"metadata": {"name": "a.b"}},
        [(INV, 'metadata.name: Invalid value: "a.b": must not contain dots')],
    ),
    (
        "service-name-is-dns1035",
        "",
        "Service",
        {**service(), "metadata": meta("1web")},
        [(INV, f'metadata.name: Invalid value: "1web": {DNS1035_MSG}')],
    ),
    (
        "bad-namespace",
        "",
        "ConfigMap",
        {"metadata": meta(namespace="Prod")},
        [(INV, f'metadata.namespace: Invalid value: "Prod": {LABEL_MSG}')],
    ),
    (
        "bad-label-key-and-value",
        "",
        "ConfigMap",
        {"metadata": meta(labels={"a/b/c": "ok", "k": "-bad"})},
        [
            (
                INV,
                'metadata.labels: Invalid value: "a/b/c": a qualified name '
                + NAME_PART_MSG.removeprefix("name part ")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
            ),
            (INV, f'metadata.labels: Invalid value: "-bad": {LABEL_VALUE_MSG}'),
        ],
    ),
    (
        "annotations-key-case-insensitive",
        "",
        "ConfigMap",
        {"metadata": meta(annotations={"Example.COM/Key": "v"})},
        [],
    ),
    (
        "annotations-too-large",
        "",
        "ConfigMap",
        {"metadata": meta(annotations={"a": "x" * (256 * 1024)})},
        [(LONG, "metadata.annotations: Too long: must have at most 262144 bytes")],
    ),
    (
        "negative-generation",
        "",
        "ConfigMap",
        {"metadata": meta(generation=-1)},
        [(INV, "metadata.generation: Invalid value: -1: must be greater than or equal to 0")],
    ),
    # --- Pod
    ("pod-ok", "", "Pod", pod(), []),
    (
        "pod-no-containers",
        "",
        "Pod",
        pod(containers=[]),
        [(REQ, "spec.containers: Required value")],
    ),
    ("pod-no-spec", "", "Pod", {"metadata": meta()}, [(REQ, "spec.containers: Required value")]),
    (
        "pod-no-image",
        "",
        "Pod",
        pod(containers=[{"name": "c"}]),
        [(REQ, "spec.containers[0].image: Required value")],
    ),
    (
        "pod-no-container-name",
        "",
        "Pod",
        pod(containers=[{"image": "x"}]),
        [(REQ, "spec.containers[0].name: Required value")],
    ),
    (
        "pod-bad-container-name",
        "",
        "Pod",
        pod(containers=[container("Web_1")]),
        [(INV, f'spec.containers[0].name: Invalid value: "Web_1": {LABEL_MSG}')],
    ),
    (
        "pod-duplicate-container",
        "",
        "Pod",
        pod(containers=[container("c"), container("c")], initContainers=[container("c")]),
        [
            (DUP, 'spec.containers[1].name: Duplicate value: "c"'),
            (DUP, 'spec.initContainers[0].name: Duplicate value: "c"'),
        ],
    ),
    (
        "pod-request-over-limit",
        "",
        "Pod",
        pod(containers=[container(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}})]),
        [
            (
                INV,
                'spec.containers[0].resources.requests: Invalid value: "2": must be less than or '
                "equal to cpu limit of 1",
            )
        ],
    ),
    (
        "pod-request-over-limit-canonical",
        "",
        "Pod",
        pod(
            containers=[
                container(resources={"limits": {"memory": "512Mi"}, "requests": {"memory": "1Gi"}})
            ]
        ),
        [
            (
                INV,
                'spec.containers[0].resources.requests: Invalid value: "1Gi": must be less than '
                "or equal to memory limit of 512Mi",
            )
        ],
    ),
    (
        "pod-request-equal-limit-other-units",
        "",
        "Pod",
        pod(
            containers=[container(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "1000m"}})]
        ),
        [],
    ),
    (
        "pod-bad-quantity",
        "",
        "Pod",
        pod(containers=[container(resources={"limits": {"memory": "1GB", "cpu": "1ki"}})]),
        [
            (
                INV,
                'spec.containers[0].resources.limits[memory]: Invalid value: "1GB": quantities '
                "must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
            (
                INV,
                'spec.containers[0].resources.limits[cpu]: Invalid value: "1ki": unable to '
                "parse quantity's suffix",
            ),
        ],
    ),
    (
        "pod-negative-quantity",
        "",
        "Pod",
        pod(containers=[container(resources={"requests": {"cpu": "-1"}})]),
        [
            (
                INV,
                'spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater '
                "than or equal to 0",
            )
        ],
    ),
    (
        "pod-unknown-resource",
        "",
        "Pod",
        pod(containers=[container(resources={"limits": {"gpu": "1"}})]),
        [
            (
                INV,
                'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a '
                "standard resource type or fully qualified",
            ),
            (
                INV,
                'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a '
                "standard resource for containers",
            ),
        ],
    ),
    (
        "pod-extended-resource-needs-limit",
        "",
        "Pod",
        pod(containers=[container(resources={"requests": {"example.com/gpu": "1"}})]),
        [
            (
                REQ,
                "spec.containers[0].resources.limits: Required value: Limit must be set for non "
                "overcommitable resources",
            )
        ],
    ),
    (
        "pod-port-range",
        "",
        "Pod",
        pod(containers=[container(ports=[{"containerPort": 70000, "protocol": "HTTP"}])]),
        [
            (
                INV,
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between "
                "1 and 65535, inclusive",
            ),
            (
                UNS,
                'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported '
                'values: "SCTP", "TCP", "UDP"',
            ),
        ],
    ),
    (
        "pod-port-missing",
        "",
        "Pod",
        pod(containers=[container(ports=[{"name": "http"}])]),
        [(REQ, "spec.containers[0].ports[0].containerPort: Required value")],
    ),
    (
        "pod-restart-policy",
        "",
        "Pod",
        pod(restartPolicy="Sometimes"),
        [
            (
                UNS,
                'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
                '"OnFailure", "Never"',
            )
        ],
    ),
    (
        "pod-volume-mount-not-found",
        "",
        "Pod",
        pod(containers=[container(volumeMounts=[{"name": "data", "mountPath": "/d"}])]),
        [("FieldValueNotFound", "spec.containers[0].volumeMounts[0].name")],
    ),
    (
        "pod-toleration-seconds-needs-noexecute",
        "",
        "Pod",
        pod(tolerations=[{"key": "k", "operator": "Exists", "tolerationSeconds": 5}]),
        [
            (
                INV,
                "spec.tolerations[0].effect: Invalid value: \"\": effect must be 'NoExecute' when "
                "`tolerationSeconds` is set",
            )
        ],
    ),
    (
        "pod-active-deadline",
        "",
        "Pod",
        pod(activeDeadlineSeconds=0),
        [
            (
                INV,
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, "
                "inclusive",
            )
        ],
    ),
    (
        "pod-env-name",
        "",
        "Pod",
        pod(containers=[container(env=[{"name": "1X", "value": "v"}])]),
        [
            (
                INV,
                'spec.containers[0].env[0].name: Invalid value: "1X": a valid environment '
                "variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                "and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
                "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
            )
        ],
    ),
    # --- apps/v1
    ("deployment-ok", "apps", "Deployment", workload("Deployment"), []),
    (
        "deployment-selector-mismatch",
        "apps",
        "Deployment",
        workload("Deployment", selector={"matchLabels": {"app": "y"}}),
        [
            (
                INV,
                'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: '
                "`selector` does not match template `labels`",
            )
        ],
    ),
    (
        "deployment-no-selector",
        "apps",
        "Deployment",
        workload("Deployment", selector=None),
        [(REQ, "spec.selector: Required value")],
    ),
    (
        "deployment-empty-selector",
        "apps",
        "Deployment",
        workload("Deployment", selector={}),
        [
            (
                INV,
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil),"
                " MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid "
                "for deployment",
            )
        ],
    ),
    (
        "deployment-negative-replicas",
        "apps",
        "Deployment",
        workload("Deployment", replicas=-1),
        [(INV, "spec.replicas: Invalid value: -1: must be greater than or equal to 0")],
    ),
    (
        "deployment-template-pod-spec",
        "apps",
        "Deployment",
        workload(
            "Deployment",
            template={
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c"}], "restartPolicy": "Never"},
            },
        ),
        [
            (REQ, "spec.template.spec.containers[0].image: Required value"),
            (
                UNS,
                'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: '
                '"Always"',
            ),
        ],
    ),
    (
        "deployment-template-bad-label",
        "apps",
        "Deployment",
        workload(
            "Deployment",
            selector={"matchLabels": {"app": "x"}},
            template={
                "metadata": {"labels": {"app": "x", "v": "-"}},
                "spec": {"containers": [container()]},
            },
        ),
        [(INV, f'spec.template.labels: Invalid value: "-": {LABEL_VALUE_MSG}')],
    ),
    (
        "deployment-strategy-zero-zero",
        "apps",
        "Deployment",
        workload(
            "Deployment",
            strategy={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0},
            },
        ),
        [
            (
                INV,
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
                'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when '
                "`maxSurge` is 0",
            )
        ],
    ),
    (
        "deployment-selector-expression",
        "apps",
        "Deployment",
        workload(
            "Deployment",
            selector={"matchExpressions": [{"key": "app", "operator": "In", "values": []}]},
        ),
        [
            (
                REQ,
                "spec.selector.matchExpressions[0].values: Required value: must be specified when "
                "`operator` is 'In' or 'NotIn'",
            ),
            (
                INV,
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil),"
                " MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{"
                'Key:"app", Operator:"In", Values:[]string{}}}}: invalid label selector',
            ),
        ],
    ),
    (
        "replicaset-no-selector",
        "apps",
        "ReplicaSet",
        workload("ReplicaSet", selector=None),
        [
            (REQ, "spec.selector: Required value"),
            (
                INV,
                'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: '
                "`selector` does not match template `labels`",
            ),
        ],
    ),
    (
        "statefulset-empty-selector",
        "apps",
        "StatefulSet",
        workload("StatefulSet", selector={"matchLabels": {}}),
        [
            (
                INV,
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
                "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid "
                "for statefulset",
            )
        ],
    ),
    (
        "statefulset-pod-management",
        "apps",
        "StatefulSet",
        workload("StatefulSet", podManagementPolicy="Random"),
        [
            (
                INV,
                "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or "
                "'Parallel'",
            )
        ],
    ),
    (
        "statefulset-ordinals-and-claim-retention",
        "apps",
        "StatefulSet",
        workload(
            "StatefulSet",
            ordinals={"start": -1},
            persistentVolumeClaimRetentionPolicy={"whenDeleted": "Purge", "whenScaled": "Retain"},
        ),
        [
            (INV, "spec.ordinals.start: Invalid value: -1: must be greater than or equal to 0"),
            (
                UNS,
                "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "
                '"Purge": supported values: "Retain", "Delete"',
            ),
        ],
    ),
    (
        "daemonset-mismatch",
        "apps",
        "DaemonSet",
        workload("DaemonSet", selector={"matchLabels": {"app": "other"}}),
        [
            (
                INV,
                'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: '
                "`selector` does not match template `labels`",
            )
        ],
    ),
    # --- batch/v1
    ("job-ok", "batch", "Job", job(), []),
    (
        "job-restart-always",
        "batch",
        "Job",
        job(template={"spec": {"containers": [container()]}}),
        [
            (
                REQ,
                'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", '
                '"Never"',
            )
        ],
    ),
    (
        "job-manual-selector-required",
        "batch",
        "Job",
        job(manualSelector=True),
        [(REQ, "spec.selector: Required value")],
    ),
    (
        "job-selector-mismatch",
        "batch",
        "Job",
        job(
            selector={"matchLabels": {"a": "b"}},
            template={
                "metadata": {"labels": {"a": "c"}},
                "spec": {"containers": [container()], "restartPolicy": "OnFailure"},
            },
        ),
        [
            (
                INV,
                'spec.template.metadata.labels: Invalid value: map[string]string{"a":"c"}: '
                "`selector` does not match template `labels`",
            )
        ],
    ),
    (
        "job-negative-backoff",
        "batch",
        "Job",
        job(backoffLimit=-1),
        [(INV, "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0")],
    ),
    (
        "cronjob-missing-schedule",
        "batch",
        "CronJob",
        {
            "metadata": meta("cj"),
            "spec": {
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [container()]}}}}
            },
        },
        [
            (REQ, "spec.schedule: Required value"),
            (
                REQ,
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "
                '"OnFailure", "Never"',
            ),
        ],
    ),
    (
        "cronjob-bad-schedule",
        "batch",
        "CronJob",
        {
            "metadata": meta("cj"),
            "spec": {
                "schedule": "* * *",
                "jobTemplate": job()["spec"] and {"spec": job()["spec"]},
            },
        },
        [
            (
                INV,
                'spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: '
                "[* * *]",
            )
        ],
    ),
    (
        "cronjob-name-too-long",
        "batch",
        "CronJob",
        {
            "metadata": meta("c" * 53),
            "spec": {"schedule": "@hourly", "jobTemplate": {"spec": job()["spec"]}},
        },
        [(INV, f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters')],
    ),
    # --- Service
    ("service-ok", "", "Service", service(), []),
    ("service-no-ports", "", "Service", service(ports=[]), [(REQ, "spec.ports: Required value")]),
    ("service-headless-no-ports", "", "Service", service(ports=[], clusterIP="None"), []),
    (
        "service-external-name",
        "",
        "Service",
        service(ports=[], type="ExternalName"),
        [(REQ, "spec.externalName: Required value")],
    ),
    (
        "service-bad-port-protocol-type",
        "",
        "Service",
        service(ports=[{"port": 0, "protocol": "HTTP"}], type="Internal"),
        [
            (INV, "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
            (
                UNS,
                'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", '
                '"TCP", "UDP"',
            ),
            (
                UNS,
                'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", '
                '"ExternalName", "LoadBalancer", "NodePort"',
            ),
        ],
    ),
    (
        "service-multi-port-needs-names",
        "",
        "Service",
        service(ports=[{"port": 80, "name": "http"}, {"port": 443}]),
        [(REQ, "spec.ports[1].name: Required value")],
    ),
    (
        "service-duplicate-port",
        "",
        "Service",
        service(
            ports=[
                {"port": 80, "name": "a", "protocol": "TCP"},
                {"port": 80, "name": "b", "protocol": "TCP"},
            ]
        ),
        [
            (
                DUP,
                'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
                "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, "
                'IntVal:0, StrVal:""}, NodePort:0}',
            )
        ],
    ),
    (
        "service-nodeport-on-clusterip",
        "",
        "Service",
        service(type="ClusterIP", ports=[{"port": 80, "nodePort": 30080}]),
        [(FORB, "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'")],
    ),
    (
        "service-bad-cluster-ip",
        "",
        "Service",
        service(clusterIP="10.0.0.300"),
        [
            (
                INV,
                'spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, '
                "(e.g. 10.9.8.7 or 2001:db8::ffff)",
            )
        ],
    ),
    # --- ConfigMap / Secret
    ("configmap-ok", "", "ConfigMap", {"metadata": meta(), "data": {"a.b_C-1": "v"}}, []),
    (
        "configmap-bad-key",
        "",
        "ConfigMap",
        {"metadata": meta(), "data": {"a b": "v"}},
        [(INV, f'data[a b]: Invalid value: "a b": {CONFIG_KEY_MSG}')],
    ),
    (
        "configmap-key-in-both",
        "",
        "ConfigMap",
        {"metadata": meta(), "data": {"k": "v"}, "binaryData": {"k": "dg=="}},
        [(INV, 'data[k]: Invalid value: "k": duplicate of key present in binaryData')],
    ),
    (
        "secret-bad-key",
        "",
        "Secret",
        {"metadata": meta(), "data": {"/etc": "dg=="}},
        [(INV, f'data[/etc]: Invalid value: "/etc": {CONFIG_KEY_MSG}')],
    ),
    (
        "secret-tls-keys",
        "",
        "Secret",
        {"metadata": meta(), "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}},
        [(REQ, "data[tls.key]: Required value")],
    ),
    # --- Node
    (
        "node-ok",
        "",
        "Node",
        {"metadata": {"name": "node-1.example"}, "spec": {"unschedulable": 1}},
        [],
    ),
    (
        "node-bad-name",
        "",
        "Node",
        {"metadata": {"name": "Node 1"}},
        [(INV, f'metadata.name: Invalid value: "Node 1": {SUBDOMAIN_MSG}')],
    ),
    # --- HPA
    (
        "hpa-ok",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta("h"),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 3,
            },
        },
        [],
    ),
    (
        "hpa-bad",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {"metadata": meta("h"), "spec": {"minReplicas": 5, "maxReplicas": 0}},
        [
            (INV, "spec.maxReplicas: Invalid value: 0: must be greater than 0"),
            (
                INV,
                "spec.maxReplicas: Invalid value: 0: must be greater than or equal to "
                "`minReplicas`",
            ),
            (REQ, "spec.scaleTargetRef.kind: Required value"),
            (REQ, "spec.scaleTargetRef.name: Required value"),
        ],
    ),
    (
        "hpa-min-over-max",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta("h"),
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "a/b"},
                "minReplicas": 4,
                "maxReplicas": 3,
                "metrics": [{"type": "Pods", "resource": {"name": "cpu"}}],
            },
        },
        [
            (
                INV,
                "spec.maxReplicas: Invalid value: 3: must be greater than or equal to "
                "`minReplicas`",
            ),
            (INV, "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'"),
            (
                REQ,
                "spec.metrics[0].pods: Required value: must populate information for the given "
                "metric source",
            ),
            (
                FORB,
                "spec.metrics[0].resource: Forbidden: must populate the given metric source only",
            ),
        ],
    ),
    # --- PDB
    (
        "pdb-both",
        "policy",
        "PodDisruptionBudget",
        {"metadata": meta("b"), "spec": {"minAvailable": 1, "maxUnavailable": "10%"}},
        [
            (
                INV,
                "spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:"
                'intstr.IntOrString{Type:0, IntVal:1, StrVal:""}, MaxUnavailable:'
                'intstr.IntOrString{Type:1, IntVal:0, StrVal:"10%"}}: minAvailable and '
                "maxUnavailable cannot be both set",
            )
        ],
    ),
    (
        "pdb-bad-percent",
        "policy",
        "PodDisruptionBudget",
        {"metadata": meta("b"), "spec": {"minAvailable": "50"}},
        [
            (
                INV,
                "spec.minAvailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, "
                'StrVal:"50"}: a valid percent string must be a numeric string followed by '
                "an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            )
        ],
    ),
    (
        "pdb-over-100",
        "policy",
        "PodDisruptionBudget",
        {"metadata": meta("b"), "spec": {"maxUnavailable": "150%"}},
        [
            (
                INV,
                "spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, "
                'StrVal:"150%"}: must not be greater than 100%',
            )
        ],
    ),
    # --- Lease / Event
    (
        "lease-duration",
        "coordination.k8s.io",
        "Lease",
        {"metadata": meta("l"), "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}},
        [
            (INV, "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"),
            (INV, "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"),
        ],
    ),
    (
        "event-namespace-mismatch",
        "",
        "Event",
        {
            "metadata": meta("p.1", namespace="team"),
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"},
        },
        [(INV, 'involvedObject.namespace: Invalid value: "other": does not match event.namespace')],
    ),
    (
        "event-ok",
        "",
        "Event",
        {
            "metadata": meta("p.1"),
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        },
        [],
    ),
    # --- flowcontrol
    ("flowschema-ok", "flowcontrol.apiserver.k8s.io", "FlowSchema", flowschema(), []),
    (
        "flowschema-bad",
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        flowschema(
            priorityLevelConfiguration={},
            matchingPrecedence=20000,
            rules=[
                {
                    "subjects": [{"kind": "Robot"}, {"kind": "User"}],
                    "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                }
            ],
        ),
        [
            (INV, "spec.matchingPrecedence: Invalid value: 20000: must not be greater than 10000"),
            (
                REQ,
                "spec.priorityLevelConfiguration.name: Required value: must reference a priority "
                "level",
            ),
            (
                UNS,
                'spec.rules[0].subjects[0].kind: Unsupported value: "Robot": supported values: '
                '"Group", "ServiceAccount", "User"',
            ),
            (
                REQ,
                "spec.rules[0].subjects[1].user: Required value: user is required when subject "
                "kind is 'User'",
            ),
        ],
    ),
    (
        "flowschema-precedence-1",
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        flowschema(matchingPrecedence=1),
        [
            (
                INV,
                "spec.matchingPrecedence: Invalid value: 1: only the schema named 'exempt' may "
                "have matchingPrecedence 1",
            )
        ],
    ),
    ("plc-ok", "flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration", plc(), []),
    (
        "plc-queuing",
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        plc(
            limitResponse={
                "type": "Queue",
                "queuing": {"queues": 4, "handSize": 8, "queueLengthLimit": 0},
            }
        ),
        [
            (
                INV,
                "spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: 0: must be "
                "positive",
            ),
            (
                INV,
                "spec.limited.limitResponse.queuing.handSize: Invalid value: 8: should not be "
                "greater than queues (4)",
            ),
        ],
    ),
    (
        "plc-queue-without-queuing",
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        plc(limitResponse={"type": "Queue"}),
        [
            (
                REQ,
                "spec.limited.limitResponse.queuing: Required value: must not be empty if "
                "limited.limitResponse.type is Limited",
            )
        ],
    ),
    (
        "plc-bad-types",
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        {
            "metadata": {"name": "pl"},
            "spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Drop"}}},
        },
        [
            (
                UNS,
                'spec.limited.limitResponse.type: Unsupported value: "Drop": supported values: '
                '"Queue", "Reject"',
            )
        ],
    ),
    (
        "plc-unknown-type",
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        {"metadata": {"name": "pl"}, "spec": {"type": "Soft"}},
        [(UNS, 'spec.type: Unsupported value: "Soft": supported values: "Exempt", "Limited"')],
    ),
    # --- CRD
    (
        "crd-name",
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        {
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.org",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True}],
            },
        },
        [
            (
                INV,
                'metadata.name: Invalid value: "widgets.example.com": must be '
                'spec.names.plural+"."+spec.group',
            )
        ],
    ),
    # --- unknown kinds: metadata only
    ("unknown-kind", "example.com", "Widget", {"metadata": meta("w"), "spec": "anything"}, []),
    (
        "unknown-kind-bad-name",
        "example.com",
        "Widget",
        {"metadata": meta("W")},
        [(INV, f'metadata.name: Invalid value: "W": {SUBDOMAIN_MSG}')],
    ),
    # --- odd input types
    (
        "spec-not-object",
        "",
        "Pod",
        {"metadata": meta(), "spec": "nope"},
        [("FieldValueTypeInvalid", "spec"), (REQ, "spec.containers: Required value")],
    ),
    (
        "replicas-string",
        "apps",
        "Deployment",
        workload("Deployment", replicas="3"),
        [("FieldValueTypeInvalid", "spec.replicas")],
    ),
]


def _compare(actual: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    """Expected entries are (reason, full message) or (reason, field) for reasons whose body
    rendering belongs to status.py (TypeInvalid, NotFound)."""
    shown = []
    for (reason, msg), (exp_reason, _) in zip(actual, expected, strict=False):
        if exp_reason in ("FieldValueTypeInvalid", "FieldValueNotFound"):
            shown.append((reason, msg.split(": ", 1)[0]))
        else:
            shown.append((reason, msg))
    assert shown + actual[len(expected) :] == expected


@pytest.mark.parametrize(
    ("group", "kind", "obj", "expected"),
    [pytest.param(g, k, o, e, id=i) for i, g, k, o, e in CREATE_CASES],
)
def test_validate_object(group: str, kind: str, obj: Any, expected: list[tuple[str, str]]) -> None:
    _compare(errors(group, kind, obj), expected)


def test_error_fields_and_reasons() -> None:
    [err] = validate_object("", "Pod", pod(containers=[{"name": "c"}]), namespaced=True)
    assert (err.type, err.field, err.detail) == (
        "FieldValueRequired",
        "spec.containers[0].image",
        "",
    )
    assert err.cause() == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.containers[0].image",
    }


def test_selector_mismatch_keeps_json_value() -> None:
    [err] = validate_object(
        "apps",
        "Deployment",
        workload("Deployment", selector={"matchLabels": {"app": "y"}}),
        namespaced=True,
    )
    assert err.field == "spec.template.metadata.labels"
    assert err.value == {"app": "x"}  # GoValue compares equal to the JSON it renders


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("*/5 * * * *", None),
        ("0 0 1 jan-mar mon-fri", None),
        ("@daily", None),
        ("@every 1h30m", None),
        ("", "empty spec string"),
        ("@sometimes", "unrecognized descriptor: @sometimes"),
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        (
            "x * * * *",
            'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax',
        ),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ],
)
def test_cron_schedule(schedule: str, expected: str | None) -> None:
    assert cron_schedule_error(schedule) == expected


# --- update -------------------------------------------------------------------------------


def stored(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """As the API layer stores it: defaulted, with a UID."""
    obj = copy.deepcopy(obj)
    apply_defaults(group, kind, obj, create=True)
    obj["metadata"]["uid"] = "uid-1"
    assert validate_object(group, kind, obj, namespaced=True) == []
    return obj


def update_errors(group: str, kind: str, old: dict[str, Any], mutate: Any) -> list[str]:
    new = copy.deepcopy(old)
    mutate(new)
    apply_defaults(group, kind, new)
    return [e.message() for e in validate_update(group, kind, old, new)]


def _set(path: str, value: Any) -> Any:
    def mutate(obj: dict[str, Any]) -> None:
        cur: Any = obj
        keys = path.split(".")
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur.setdefault(k, {})
        if isinstance(cur, list):
            cur[int(keys[-1])] = value
        else:
            cur[keys[-1]] = value

    return mutate


def _del(path: str) -> Any:
    def mutate(obj: dict[str, Any]) -> None:
        cur: Any = obj
        keys = path.split(".")
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur[k]
        del cur[int(keys[-1]) if isinstance(cur, list) else keys[-1]]

    return mutate


def test_update_metadata_immutable() -> None:
    old = stored("", "ConfigMap", {"metadata": meta("a")})
    assert update_errors("", "ConfigMap", old, _set("metadata.name", "b")) == [
        'metadata.name: Invalid value: "b": field is immutable'
    ]
    assert update_errors("", "ConfigMap", old, _set("metadata.uid", "other")) == [
        'metadata.uid: Invalid value: "other": field is immutable'
    ]
    assert update_errors("", "ConfigMap", old, _set("metadata.labels", {"a": "b"})) == []


def test_update_pod() -> None:
    old = stored("", "Pod", pod())
    assert update_errors("", "Pod", old, _set("spec.containers.0.image", "nginx:1.28")) == []
    assert update_errors("", "Pod", old, _set("spec.activeDeadlineSeconds", 30)) == []
    [msg] = update_errors("", "Pod", old, _set("spec.restartPolicy", "Never"))
    assert msg == POD_FORBIDDEN + (
        '  core.PodSpec{\n- \tRestartPolicy: "Always",\n+ \tRestartPolicy: "Never",\n  }'
    )
    assert update_errors(
        "", "Pod", old, lambda o: o["spec"]["containers"].append(container("d"))
    ) == ["spec.containers: Forbidden: pod updates may not add or remove containers"]
    # Tolerations: additions only.
    added = {"key": "k", "operator": "Exists", "effect": "NoSchedule"}
    assert update_errors("", "Pod", old, lambda o: o["spec"]["tolerations"].append(added)) == []
    assert (
        update_errors(
            "", "Pod", old, lambda o: o["spec"]["tolerations"][0].update(tolerationSeconds=60)
        )
        == []
    )
    assert update_errors("", "Pod", old, _del("spec.tolerations.1")) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its "
        "tolerationSeconds"
    ]
    user = stored("", "Pod", pod(tolerations=[added]))
    assert update_errors(
        "", "Pod", user, lambda o: o["spec"]["tolerations"][0].update(effect="PreferNoSchedule")
    ) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its "
        "tolerationSeconds"
    ]


def test_update_pod_active_deadline() -> None:
    old = stored("", "Pod", pod(activeDeadlineSeconds=30))
    assert update_errors("", "Pod", old, _set("spec.activeDeadlineSeconds", 10)) == []
    assert update_errors("", "Pod", old, _set("spec.activeDeadlineSeconds", 60)) == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous "
        "value"
    ]
    assert update_errors("", "Pod", old, _del("spec.activeDeadlineSeconds")) == [
        "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive "
        "integer to nil value"
    ]


def test_update_pod_resources_are_compared_semantically() -> None:
    old = stored("", "Pod", pod(containers=[container(resources={"limits": {"cpu": "1"}})]))
    assert (
        update_errors("", "Pod", old, _set("spec.containers.0.resources.limits.cpu", "1000m")) == []
    )


def test_update_deployment_selector_immutable() -> None:
    old = stored("apps", "Deployment", workload("Deployment"))

    def change(o: dict[str, Any]) -> None:
        o["spec"]["selector"] = {"matchLabels": {"app": "z"}}
        o["spec"]["template"]["metadata"]["labels"] = {"app": "z"}

    assert update_errors("apps", "Deployment", old, change) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"z"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]
    assert update_errors("apps", "Deployment", old, _set("spec.replicas", 5)) == []
    assert (
        update_errors(
            "apps", "Deployment", old, _set("spec.template.spec.containers.0.image", "x:2")
        )
        == []
    )


def test_update_statefulset_forbidden_fields() -> None:
    old = stored("apps", "StatefulSet", workload("StatefulSet", serviceName="web"))
    assert update_errors("apps", "StatefulSet", old, _set("spec.serviceName", "other")) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"
    ]
    assert update_errors("apps", "StatefulSet", old, _set("spec.replicas", 3)) == []


def test_update_job_template_and_selector_immutable() -> None:
    old = stored(
        "batch",
        "Job",
        job(
            selector={"matchLabels": {"j": "1"}},
            manualSelector=True,
            template={
                "metadata": {"labels": {"j": "1"}},
                "spec": {"containers": [container()], "restartPolicy": "Never"},
            },
        ),
    )
    assert update_errors(
        "batch", "Job", old, _set("spec.template.spec.containers.0.image", "other")
    ) == ["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"]

    def change_selector(o: dict[str, Any]) -> None:
        o["spec"]["selector"] = {"matchLabels": {"j": "1", "k": "2"}}
        o["spec"]["template"]["metadata"]["labels"]["k"] = "2"

    msgs = update_errors("batch", "Job", old, change_selector)
    assert msgs[0] == (
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string"
        '{"j":"1", "k":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is '
        "immutable"
    )
    assert update_errors("batch", "Job", old, _set("spec.completions", 3)) == [
        "spec.completions: Invalid value: 3: field is immutable"
    ]
    assert update_errors("batch", "Job", old, _set("spec.suspend", True)) == []


def test_update_service_cluster_ip() -> None:
    old = stored("", "Service", service())
    old["spec"]["clusterIP"] = "10.0.0.1"
    old["spec"]["clusterIPs"] = ["10.0.0.1"]

    def change(o: dict[str, Any]) -> None:
        o["spec"]["clusterIP"] = "10.0.0.2"
        o["spec"]["clusterIPs"] = ["10.0.0.2"]

    assert update_errors("", "Service", old, change) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.0.0.2"}: may not change once set'
    ]
    assert update_errors("", "Service", old, _set("spec.ports.0.port", 8080)) == []


def test_update_immutable_configmap_and_secret_type() -> None:
    old = stored("", "ConfigMap", {"metadata": meta(), "data": {"a": "1"}, "immutable": True})
    assert update_errors("", "ConfigMap", old, _set("data.a", "2")) == [
        "data: Forbidden: field is immutable when `immutable` is set"
    ]
    assert update_errors("", "ConfigMap", old, _set("immutable", False)) == [
        "immutable: Forbidden: field is immutable when `immutable` is set"
    ]
    secret = stored("", "Secret", {"metadata": meta(), "data": {"a": "eA=="}})
    assert update_errors("", "Secret", secret, _set("type", "example.com/custom")) == [
        'type: Invalid value: "example.com/custom": field is immutable'
    ]


def test_update_revalidates_new_object() -> None:
    old = stored("apps", "Deployment", workload("Deployment"))
    assert update_errors("apps", "Deployment", old, _set("spec.replicas", -2)) == [
        "spec.replicas: Invalid value: -2: must be greater than or equal to 0"
    ]


# --- robustness -------------------------------------------------------------------------

_KEYS = [
    "metadata",
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "spec",
    "template",
    "containers",
    "initContainers",
    "image",
    "ports",
    "containerPort",
    "port",
    "protocol",
    "resources",
    "limits",
    "requests",
    "cpu",
    "memory",
    "selector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "replicas",
    "restartPolicy",
    "strategy",
    "rollingUpdate",
    "maxUnavailable",
    "maxSurge",
    "tolerations",
    "volumes",
    "volumeMounts",
    "env",
    "valueFrom",
    "type",
    "clusterIP",
    "clusterIPs",
    "data",
    "binaryData",
    "schedule",
    "jobTemplate",
    "scaleTargetRef",
    "metrics",
    "minAvailable",
    "limited",
    "limitResponse",
    "queuing",
    "queues",
    "handSize",
    "rules",
    "subjects",
    "names",
    "versions",
    "group",
    "involvedObject",
    "ownerReferences",
    "finalizers",
    "updateStrategy",
    "timeZone",
    "priorityLevelConfiguration",
    "matchingPrecedence",
    "resourceRules",
    "verbs",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["", "None", "Always", "Queue", "In", "1Gi", "-1", "50%", "*", "a/b/c"]),
)
JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(_KEYS), st.text(max_size=5)), children, max_size=6
        ),
    ),
    max_leaves=40,
)
KINDS = [*sorted({(t.group, t.kind, t.namespaced) for t in BUILTIN}), ("x.io", "Widget", True)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), JSON, JSON)
@example(("scheduling.k8s.io", "PriorityClass", False), {"metadata": 1}, None)  # found by it
def test_never_raises_on_arbitrary_json(kind: tuple[str, str, bool], obj: Any, old: Any) -> None:
    group, name, namespaced = kind
    for candidate in (obj, {"metadata": {"name": "x"}, "spec": obj}, {"spec": {"template": obj}}):
        errs = validate_object(group, name, candidate, namespaced=namespaced)
        assert all(isinstance(e.message(), str) for e in errs)
        snapshot = copy.deepcopy(candidate)
        apply_defaults(group, name, snapshot)
        validate_object(group, name, snapshot, namespaced=namespaced)
        for e in validate_update(group, name, old, snapshot) + validate_update(
            group, name, snapshot, candidate
        ):
            assert isinstance(e.message(), str)


def test_validation_does_not_mutate_input() -> None:
    obj = workload("Deployment", selector={"matchLabels": {"app": "y"}})
    before = copy.deepcopy(obj)
    validate_object("apps", "Deployment", obj, namespaced=True)
    validate_update("apps", "Deployment", before, obj)
    assert obj == before


VALID: list[tuple[str, str, dict[str, Any]]] = [
    (
        "",
        "Pod",
        pod(
            initContainers=[container("init", restartPolicy="Always")],
            volumes=[{"name": "v", "emptyDir": {}}],
            tolerations=[{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
            containers=[
                container(
                    ports=[{"containerPort": 80, "name": "http"}],
                    resources={"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
                    env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    volumeMounts=[{"name": "v", "mountPath": "/v"}],
                )
            ],
        ),
    ),
    (
        "apps",
        "Deployment",
        workload(
            "Deployment",
            selector={
                "matchLabels": {"app": "x"},
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}],
            },
            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}},
        ),
    ),
    ("apps", "StatefulSet", workload("StatefulSet", updateStrategy={"type": "RollingUpdate"})),
    ("apps", "DaemonSet", workload("DaemonSet")),
    ("batch", "Job", job(completionMode="Indexed", completions=2)),
    (
        "batch",
        "CronJob",
        {
            "metadata": meta("cj"),
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": job()["spec"]}},
        },
    ),
    (
        "",
        "Service",
        service(
            ports=[
                {"port": 80, "name": "a", "targetPort": "http"},
                {"port": 81, "name": "b", "nodePort": 30001},
            ],
            type="NodePort",
            clusterIP="10.0.0.1",
        ),
    ),
    (
        "",
        "Secret",
        {
            "metadata": meta(),
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "eA==", "tls.key": "eA=="},
        },
    ),
    ("", "ConfigMap", {"metadata": meta(), "data": {"a": "b"}, "binaryData": {"c": "eA=="}}),
    (
        "",
        "PersistentVolumeClaim",
        {
            "metadata": meta(),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta(),
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "d"},
                "maxReplicas": 2,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
            },
        },
    ),
    (
        "policy",
        "PodDisruptionBudget",
        {
            "metadata": meta(),
            "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"a": "b"}}},
        },
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        flowschema(
            rules=[
                {
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {"name": "*", "namespace": "kube-system"},
                        }
                    ],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "namespaces": ["*"],
                        }
                    ],
                }
            ]
        ),
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        plc(
            limitResponse={
                "type": "Queue",
                "queuing": {"queues": 64, "handSize": 8, "queueLengthLimit": 50},
            }
        ),
    ),
    (
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        {
            "metadata": {"name": "widgets.x.io"},
            "spec": {
                "group": "x.io",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True}],
            },
        },
    ),
    (
        "rbac.authorization.k8s.io",
        "Role",
        {
            "metadata": {"name": "pod-reader", "namespace": "ns"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": ["a"],
                    "verbs": ["get"],
                },
            ],
        },
    ),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        {
            "metadata": {"name": "readers", "namespace": "ns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "ci", "namespace": "ns"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"},
            ],
        },
    ),
]


@pytest.mark.parametrize(("group", "kind", "obj"), VALID, ids=[v[1] for v in VALID])
def test_valid_fixtures(group: str, kind: str, obj: dict[str, Any]) -> None:
    assert validate_object(group, kind, obj, namespaced=True) == []


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_never_raises_when_any_field_of_a_valid_object_is_replaced(data: st.DataObject) -> None:
    group, kind, obj = data.draw(st.sampled_from(VALID))
    path = data.draw(st.sampled_from(_paths(obj)[1:]))
    mutated = copy.deepcopy(obj)
    parent: Any = mutated
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(JSON)
    errs = validate_object(group, kind, mutated, namespaced=True)
    assert all(isinstance(e.message(), str) for e in errs)
    apply_defaults(group, kind, mutated)
    for e in validate_update(group, kind, obj, mutated) + validate_update(
        group, kind, mutated, obj
    ):
        assert isinstance(e.message(), str)


def test_claim_updates_follow_the_bound_state() -> None:
    """Only a bound claim's storage request may change, and only upwards (1.31's rules)."""

    def claim(size: str, phase: str, cpu: str | None = None) -> dict:
        requests = {"storage": size, **({"cpu": cpu} if cpu else {})}
        return {
            "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": requests}},
            "status": {"phase": phase},
        }

    def errors(old: dict, new: dict) -> list[str]:
        return [e.message() for e in validate_update("", "PersistentVolumeClaim", old, new)]

    assert errors(claim("1Gi", "Bound"), claim("2Gi", "Bound")) == []
    assert errors(claim("2Gi", "Bound"), claim("1Gi", "Bound")) == [
        "spec.resources.requests.storage: Forbidden: field can not be less than previous value"
    ]
    for changed in (claim("2Gi", "Pending"), claim("1Gi", "Bound", cpu="1")):
        old = claim("1Gi", changed["status"]["phase"])
        [message] = errors(old, changed)
        assert message.startswith(
            "spec: Forbidden: spec is immutable after creation except resources.requests and "
            "volumeAttributesClassName for bound claims"
        ), message


def test_storage_class_allowed_topologies() -> None:
    zone = "topology.kubernetes.io/zone"
    sc = {
        "metadata": {"name": "zonal"},
        "provisioner": "sim.kubeward.io",
        "volumeBindingMode": "Immediate",
        "allowedTopologies": [
            {
                "matchLabelExpressions": [
                    {"key": zone, "values": ["a", "a"]},
                    {"key": zone, "values": ["b"]},
                ]
            },
            {"matchLabelExpressions": [{"key": "bad key", "values": []}]},
            {"matchLabelExpressions": [{"key": "bad key", "values": []}]},
        ],
    }
    messages = [
        e.message() for e in validate_object("storage.k8s.io", "StorageClass", sc, namespaced=False)
    ]
    assert messages == [
        'allowedTopologies[0].matchLabelExpressions[0].values[1]: Duplicate value: "a"',
        f'allowedTopologies[0].matchLabelExpressions[1].key: Duplicate value: "{zone}"',
        "allowedTopologies[1].matchLabelExpressions[0].values: Required value",
        'allowedTopologies[1].matchLabelExpressions[0].key: Invalid value: "bad key": name part '
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        "allowedTopologies[2].matchLabelExpressions[0].values: Required value",
        'allowedTopologies[2].matchLabelExpressions[0].key: Invalid value: "bad key": name part '
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        'allowedTopologies[2].matchLabelExpressions: Duplicate value: ""',
    ]
