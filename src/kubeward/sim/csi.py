"""The simulated CSI driver's identity, shared by the volume controller that plays it, the
cluster bootstrap that installs its default class, and scenarios that declare more classes."""

PROVISIONER = "sim.kubeward.io"
DEFAULT_CLASS = "standard"  # the class every simulated cluster starts with, as its default
