"""The modelled API server load: cost, APF, OOM, synthetic clients (docs/simulator-model.md)."""
