"""Admission plugins of kube-apiserver that need other objects than the one written.

Currently the Priority plugin (``kubeward.kube.priority`` holds its semantics): pods get their
priority from their PriorityClass on create and keep it on update; a second global-default
PriorityClass is refused; the built-in system classes cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.priority import (
    SYSTEM_PRIORITIES,
    PriorityForbidden,
    admit_pod,
    check_priority_class_admission,
    forbidden_message,
    keep_priority_on_update,
)
from kubeward.kube.registry import ResourceType
from kubeward.sim.store.store import Store

PODS = ("", "pods")
PRIORITY_CLASSES = ("scheduling.k8s.io", "priorityclasses")


class Admission:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _get_class(self, name: str) -> dict[str, Any] | None:
        obj = self.store.get(PRIORITY_CLASSES, name)
        return obj.decode() if obj is not None else None

    def _default_candidates(self) -> Iterator[dict[str, Any]]:
        for obj in self.store.resource(PRIORITY_CLASSES).objects.values():
            if b'"globalDefault":true' in obj.raw:
                yield obj.decode()

    def create(self, srt: ResourceType, obj: dict[str, Any], sent_name: str = "") -> None:
        """Mutating and validating admission on create, before defaulting and validation.
        ``sent_name``: the name (or generateName) the client sent, for error messages."""
        key = srt.storage_key
        if key == PODS:
            spec = obj.get("spec")
            if not isinstance(spec, dict):
                return  # validation reports it
            try:
                admit_pod(spec, self._get_class, self._default_candidates)
            except PriorityForbidden as exc:
                raise _forbidden(srt, sent_name, str(exc)) from None
        elif key == PRIORITY_CLASSES:
            try:
                check_priority_class_admission(obj, self._default_candidates(), creating=True)
            except PriorityForbidden as exc:
                raise _forbidden(srt, sent_name, str(exc)) from None

    def update(
        self, srt: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str
    ) -> None:
        key = srt.storage_key
        if key == PODS and not subresource:
            old_spec, new_spec = old.get("spec"), new.get("spec")
            if isinstance(old_spec, dict) and isinstance(new_spec, dict):
                keep_priority_on_update(old_spec, new_spec)
        elif key == PRIORITY_CLASSES:
            try:
                check_priority_class_admission(new, self._default_candidates(), creating=False)
            except PriorityForbidden as exc:
                raise _forbidden(srt, str(new["metadata"].get("name", "")), str(exc)) from None

    def delete(self, srt: ResourceType, name: str) -> None:
        if srt.storage_key == PRIORITY_CLASSES and name in SYSTEM_PRIORITIES:
            raise st.forbidden_error(
                forbidden_message(
                    "priorityclasses.scheduling.k8s.io",
                    name,
                    "this is a system priority class and cannot be deleted",
                ),
                srt.plural,
                srt.group,
                name,
            )


def _forbidden(srt: ResourceType, name: str, reason: str) -> st.StatusError:
    """admission.NewForbidden: named after the object, or its generateName before a name is
    generated."""
    name = name or "Unknown"
    resource = f"{srt.plural}.{srt.group}" if srt.group else srt.plural
    return st.forbidden_error(
        forbidden_message(resource, name, reason), srt.plural, srt.group, name
    )
