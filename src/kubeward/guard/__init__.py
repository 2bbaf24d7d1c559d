"""Control-plane guard: who loads the API server (audit log + /metrics analysis, culprit
ranking, best-practice findings), detection, and API Priority and Fairness protection."""
