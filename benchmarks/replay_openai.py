"""Full-size ``kubeward replay openai-outage``: 7,500 nodes, without and with the guard, in one
run (each side: the simulator, the collector and the guard, over HTTP).

Prints each side's progress, then a final JSON line with both sides' figures (see
``kubeward.replay.SideResult.figures``) and whether the guarded side met the issue's goals:
detected within 60 s and mitigated within 2 min of the rollout, system-request success
>= 99 %, no API-server restart after mitigation, DNS never failing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from kubeward.replay import FULL_NODES, ReplayOptions, run_side
from kubeward.replay_cli import goals_met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=FULL_NODES)
    parser.add_argument("--speed", type=float, default=2.0)
    parser.add_argument("--minutes", type=float, default=20.0)
    # The full cluster takes several simulated minutes to build at speed 2: roll out at 10.
    parser.add_argument("--onset-minutes", type=float, default=10.0)
    parser.add_argument("--audit-sample", type=float, default=0.2)
    args = parser.parse_args()
    options = ReplayOptions(
        nodes=args.nodes,
        speed=args.speed,
        minutes=args.minutes,
        audit_sample=args.audit_sample,
        start_timeout=1200.0,
        onset_seconds=args.onset_minutes * 60,
    )
    sides = {}
    with tempfile.TemporaryDirectory(prefix="kubeward-replay-bench-") as tmp:
        for guard in (False, True):
            result = asyncio.run(
                run_side(guard, options, Path(tmp), lambda m: print(m, flush=True))
            )
            sides["with_guard" if guard else "without_guard"] = result.figures()
    print(json.dumps({**sides, "goals_with_guard": goals_met(sides["with_guard"])}))


if __name__ == "__main__":
    main()
