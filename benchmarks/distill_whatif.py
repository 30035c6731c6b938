"""What mobo's acquisition made of the students a peer found, at mobo's own proposals.

On a held-out seed where a peer reaches a larger hypervolume than mobo with students mobo
never proposed (``results/distill_where.md``: wider students trained at higher learning
rates), the question is whether mobo's acquisition would have wanted them had its search
offered them. This replay asks it at every ``--stride``-th model proposal of a mobo
journal: it rebuilds the study just before the ask (:meth:`mobo.Study.read` of the journal
prefix), refits the exact-match GP as the proposer does (:func:`mobo.gp.fit_gp` on the
modelled objective, warm-started from the previous proposal's hyper-parameters, on one
thread), checks it against the acquisition value the journal recorded for the proposal,
and scores with the same exact log EHVI (Emmerich, Deutz & Klinkenberg 2011; the parameter
count known in closed form, as in the study):

- mobo's own proposal (``choice``);
- the peer's best students of its whole run (its top three by exact match; they are only
  scored, never shown to the model) (``peer``);
- the most accurate student mobo had observed so far (``best``), and that student with its
  learning rate, its head count or its depth set to the peer's best student's, one at a
  time and all three together (``move``).

A candidate that scores above the choice is one the acquisition preferred but the
proposer's candidate set (its trust region) did not offer; one that scores below is one the
model itself did not want, whatever the search. The GP's mean and sd of the exact match at
each candidate say why.

Usage (from the repository root; reads the journals, trains nothing)::

    python -m benchmarks.distill_whatif                  # the one-machine pair, seed 10
    python -m benchmarks.distill_whatif --journal J --peer P --stride 5 \\
        --out-json results/distill_whatif.json --out-md results/distill_whatif.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.distill_compare import read_records
from benchmarks.distill_diagnosis import closed_sizes, read_lines, replay, state_of
from benchmarks.provenance import (
    FILES,
    check_out_folders,
    command_line,
    relative,
    stamp_fields,
    write_result,
)
from mobo.boxes import decompose
from mobo.gp import NOISE_PRIOR, fit_gp, single_threaded
from mobo.improvement import log_ehvi_boxes
from mobo.study import Study

ROOT = Path(__file__).resolve().parents[1]
PAIR = ROOT / "results" / "distill_compare_onemachine" / "distill_compare"
DEFAULT_JOURNAL = PAIR / "mobo-10.jsonl"
DEFAULT_PEER = PAIR / "tpe-10.jsonl"
DEFAULT_JSON = ROOT / "results" / "distill_whatif.json"
DEFAULT_MD = ROOT / "results" / "distill_whatif.md"
N_PEER = 3
# the parameters a move takes from the peer's best student, one at a time, then together
MOVED = ("learning_rate", "n_heads", "n_layers")


def peer_best(path: Path, n: int = N_PEER) -> list[dict[str, Any]]:
    """The peer run's ``n`` completed trials of highest exact match (ties: earlier first),
    each ``{"trial", "params", "exact"}``, from its per-run file."""
    recs = read_records(path)  # the comparison's reader: a torn last line is skipped
    done = [r for r in recs if r.get("status") == "completed" and r.get("values")]
    if not done:
        raise ValueError(f"{path}: no completed trial")
    done.sort(key=lambda r: (-float(r["values"]["exact"]), int(r["trial"])))
    return [{"trial": int(r["trial"]), "params": r["params"],
             "exact": float(r["values"]["exact"])} for r in done[:n]]


def candidates(study: Study, choice: np.ndarray, best: np.ndarray,
               peers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The scored points: (name, kind, encoded x (d,)) for the choice, the peer's students,
    the best student so far and its moves toward the peer's best (see the module
    docstring)."""
    space = study.space
    out = [{"name": "mobo's choice", "kind": "choice", "x": choice}]
    for p in peers:
        out.append({"name": f"peer trial {p['trial']}", "kind": "peer",
                    "x": space.encode(p["params"]), "observed": p["exact"]})
    out.append({"name": "best so far", "kind": "best", "x": best})
    top = peers[0]["params"]
    base = space.decode(best)
    for names in [(k,) for k in MOVED] + [MOVED]:
        moved = {**base, **{k: top[k] for k in names}}
        out.append({"name": "best so far, " + " and ".join(names) + " of the peer's best",
                    "kind": "move", "x": space.encode(moved)})
    return out


def score(study: Study, X: np.ndarray, Y: np.ndarray, ref: np.ndarray,
          warm: Mapping[str, Any] | None, points: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact mean (q,), exact sd (q,), log EHVI (q,)) at encoded ``points`` (q, d), with the
    proposer's fit: the GP of the modelled objective (column 0, minimised) on ``X`` (n, d),
    ``Y`` (n, 2), warm-started from ``warm``, on one thread; the size column known."""
    with single_threaded():
        gp = fit_gp(X, Y[:, :1], warm, noise_prior=NOISE_PRIOR)
        mean, sd = gp.posterior(points)
    m = np.c_[mean[:, 0], closed_sizes(study, points)]
    s = np.c_[sd[:, 0], np.zeros(len(points))]
    return -mean[:, 0], sd[:, 0], log_ehvi_boxes(m, s, decompose(Y, ref))


def analyse(journal: Path, peer: Path, stride: int) -> dict[str, Any]:
    """Every sampled proposal's scored candidates (JSON-ready)."""
    lines = read_lines(journal)
    events = [json.loads(line) for line in lines]
    if not events or events[0].get("event") != "study":
        raise ValueError(f"{journal}: not a mobo journal (no study header)")
    peers = peer_best(peer)
    asks = [i for i, e in enumerate(events) if e.get("event") == "ask"
            and e.get("source") == "model"]
    if not asks:
        raise ValueError(f"{journal}: no model proposal to replay")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for line_no in asks[::stride]:
            ev = events[line_no]
            study = replay(lines, line_no, Path(tmp))
            state = state_of(study, int(ev["number"]))
            best = int(np.argmin(state.Y[:, 0]))
            cands = candidates(study, np.asarray(ev["x"], dtype=float), state.X[best], peers)
            pts = np.array([c["x"] for c in cands])
            mean, sd, lv = score(study, state.X, state.Y, state.ref, state.warm, pts)
            recorded = ev.get("acq_value")
            rows.append({
                "number": int(ev["number"]),
                "best_exact": float(-state.Y[best, 0]),
                "recorded_log_acq": math.log(recorded) if recorded else None,
                "candidates": [{
                    "name": c["name"], "kind": c["kind"],
                    "params": {k: study.space.decode(c["x"])[k]
                               for k in ("n_layers", "n_heads", "learning_rate", "init")},
                    "observed": c.get("observed"),
                    "exact_mean": float(mean[i]), "exact_sd": float(sd[i]),
                    "log_ehvi": float(lv[i]),
                } for i, c in enumerate(cands)],
            })
    return {"journal": relative(journal), "peer": relative(peer), "stride": stride,
            "peer_best": peers, "proposals": rows}


def _fidelity(rows: Sequence[Mapping[str, Any]]) -> float:
    """The largest |replayed - recorded| log acquisition of the choices (NaN: none recorded)."""
    gaps = [abs(r["candidates"][0]["log_ehvi"] - r["recorded_log_acq"]) for r in rows
            if r["recorded_log_acq"] is not None]
    return max(gaps) if gaps else float("nan")


def summary(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per candidate name (in first-seen order): how often it scored at least the choice,
    the median log EHVI lead over the choice, and the median GP mean and sd of exact."""
    by: dict[str, list[tuple[float, float, float]]] = {}
    for r in data["proposals"]:
        own = r["candidates"][0]["log_ehvi"]
        for c in r["candidates"][1:]:
            by.setdefault(c["name"], []).append(
                (c["log_ehvi"] - own, c["exact_mean"], c["exact_sd"]))
    return [{"name": name, "n": len(v), "at_least_choice": sum(d >= 0 for d, _, _ in v),
             "median_lead": float(np.median([d for d, _, _ in v])),
             "median_mean": float(np.median([m for _, m, _ in v])),
             "median_sd": float(np.median([s for _, _, s in v]))} for name, v in by.items()]


def _params(p: Mapping[str, Any]) -> str:
    return (f"{p['n_layers']} layers, {p['n_heads']} heads, lr {p['learning_rate']:.1e}, "
            f"{p['init']}")


def markdown(data: Mapping[str, Any]) -> str:
    """The report, from the JSON alone."""
    rows = data["proposals"]
    lines = [
        "# What mobo's acquisition made of the peer's students",
        "",
        f"Generated by `{data['command']}` from `{data['journal']}` (mobo) and "
        f"`{data['peer']}` (the peer); `benchmarks/distill_whatif.py` says how. "
        f"Code: commit `{data['commit']}`"
        + (" with uncommitted changes" if data.get("dirty") else "") + ".",
        "",
        f"Every {data['stride']}th model proposal of the journal is replayed "
        f"({len(rows)} proposals); the refitted acquisition reproduces the value the "
        f"journal recorded for mobo's own choice to within {_fidelity(rows):.1e} in log "
        "EHVI. Log EHVI is in the study's units (exact match points times parameters); "
        "a lead is the candidate's log EHVI minus that of mobo's choice at the same "
        "proposal (a lead of -2.3 is a tenth of the choice's EHVI).",
        "",
        "The peer's best students (scored, never shown to the model):",
        "",
    ]
    for p in data["peer_best"]:
        lines.append(f"- trial {p['trial']}: {_params(p['params'])}: exact {p['exact']:.2f}")
    lines += ["", "## Summary over the replayed proposals", "",
              "| candidate | proposals | scored at least mobo's choice | median lead | "
              "median GP mean of exact | median GP sd |", "|---|---:|---:|---:|---:|---:|"]
    for s in summary(data):
        lines.append(f"| {s['name']} | {s['n']} | {s['at_least_choice']} | "
                     f"{s['median_lead']:+.2f} | {s['median_mean']:.1f} | "
                     f"{s['median_sd']:.1f} |")
    lines += ["", "## Per proposal", "",
              "| proposal | best exact so far | candidate | parameters | GP exact mean (sd) "
              "| log EHVI | observed |", "|---:|---:|---|---|---:|---:|---:|"]
    for r in rows:
        for c in r["candidates"]:
            seen = f"{c['observed']:.2f}" if c["observed"] is not None else ""
            lines.append(f"| {r['number']} | {r['best_exact']:.2f} | {c['name']} | "
                         f"{_params(c['params'])} | {c['exact_mean']:.1f} "
                         f"({c['exact_sd']:.1f}) | {c['log_ehvi']:.2f} | {seen} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_whatif",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--journal", type=Path, default=DEFAULT_JOURNAL,
                    help="mobo's journal (default: the one-machine pair's mobo-10.jsonl)")
    ap.add_argument("--peer", type=Path, default=DEFAULT_PEER,
                    help="the peer's per-run file of the same seed (default: tpe-10.jsonl "
                    "of the same folder)")
    ap.add_argument("--stride", type=int, default=5,
                    help="replay every K-th model proposal (default 5)")
    ap.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    args = ap.parse_args(argv)
    if args.stride < 1:
        ap.error(f"--stride: must be >= 1, got {args.stride}")
    for flag, path in (("--journal", args.journal), ("--peer", args.peer)):
        if not path.is_file():
            ap.error(f"{flag}: {path} is not a file")
    check_out_folders(ap, out_json=args.out_json, out_md=args.out_md)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # the code that runs is the code imported now: stamp it before the replay
    stamp = stamp_fields(FILES["distill_whatif.json"])
    try:
        data = analyse(args.journal.resolve(), args.peer.resolve(), args.stride)
    except (ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = {**stamp, "command": command_line("benchmarks.distill_whatif", argv), **data}
    write_result(data, args.out_json, args.out_md, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
