"""The collector: one LIST+WATCH per kind for the whole platform, fanned out to workers.

- :mod:`~kubeward.collect.kinds`: what is watched, how each kind is flattened and sharded;
- :mod:`~kubeward.collect.columnar` / :mod:`~kubeward.collect.state`: per-kind state in Arrow
  columns, updated in batches;
- :mod:`~kubeward.collect.ksm` / :mod:`~kubeward.collect.textwriter`: kube-state-metrics v2
  exposition written straight from the columns;
- :mod:`~kubeward.collect.worker` / :mod:`~kubeward.collect.link`: worker processes and the
  master's pipes to them;
- :mod:`~kubeward.collect.master`: informers, fan-out, self-metrics, event ingestion;
- :mod:`~kubeward.collect.cli`: ``kubeward collect``.
"""
