"""The paper's section on the trust region for the distillation search (section 4.5).

Reads the development runs only -- the stand-in's (``results/distill_standin/<setting>/``,
seeds 0 to 4, :mod:`benchmarks.distill_standin`) and the task's own
(``results/distill_dev/<setting>/``, seeds 0 to 2) -- each folder's
``distill_compare.csv`` and its fixed reference, summarised with
:func:`benchmarks.distill_compare.summary` exactly as the folders' own reports are. The
held-out comparison is a separate file (``results/distill_compare.*``).

Per setting and method: the seeds and the trials each has so far, the median hypervolume
at the largest trial count every seed has reached, the median share of post-initial trials
that beat the no-answer threshold, and the share of post-initial proposals that are
1-layer students.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.distill_compare import NAME, read_csv, summary

# (folder, what the folder's mobo runs use); folders absent from a checkout are skipped
STANDIN_SETTINGS: tuple[tuple[str, str], ...] = (
    ("peers", "the peers"),
    ("none", "global search"),
    ("threshold", "global search, threshold model"),
    ("tr05", "trust region 0.05, without recombinations"),
    ("tr1", "trust region 0.1"),
    ("tr2", "trust region 0.2"),
    ("tr1_threshold", "trust region 0.1, threshold model"),
    ("tr05_stretched", "trust region 0.05, boxes stretched by the GP's lengthscales"),
    ("tr05_rank", "trust region 0.05, rank warp"),
    ("tr05_onebox", "trust region 0.05, one box per proposal"),
    ("default", "trust region 0.05 with recombinations, share 0.7 (the task's setting)"),
    ("noisy8", "as above, noisy, EHVI over 8 samples of the front"),
    ("sample_front8", "as above with the task's noise prior, only the front sampled"),
    ("plug_in", "as above, the front's posterior mean in place of its samples"),
)
DEV_SETTINGS: tuple[tuple[str, str], ...] = (
    ("none", "global search"),
    ("rank", "global search, rank warp"),
    ("threshold", "global search, threshold model"),
    ("trust_region_raw", "trust region 0.1, every trial beating the threshold a centre"),
    ("trust_region_escape", "trust region 0.1, hill-climb unrestricted"),
    ("trust_region", "trust region 0.1"),
    ("trust_region_005", "trust region 0.05, without recombinations"),
    ("trust_region_onebox", "trust region 0.05, one box per proposal"),
    ("trust_region_crossover", "trust region 0.05 with recombinations (the region's setting)"),
    ("trust_region_widen", "as the region's setting, widened to at most 0.4 while stalled"),
    ("trust_region_loo", "as the region's setting, centres credible by leave-one-out sd"),
    ("trust_region_ordinal", "as the region's setting, boxes reaching each integer's neighbours"),
    ("trust_region_threshold", "as the region's setting, with the threshold model"),
    ("trust_region_levels", "as the region's setting, with moves that keep the size"),
    ("peers", "the peers"),
    ("onemachine_default", "the region's setting, no exploration share"),
    ("onemachine_tr010", "trust region 0.1 with recombinations"),
    ("onemachine_explore030", "the region's setting, share 0.3 of every trial beating the "
     "threshold"),
    ("onemachine_explore050", "the region's setting, share 0.5 of every trial beating the "
     "threshold"),
    ("onemachine_front050", "the region's setting, share 0.5 of the best ranks, credible"),
    ("onemachine_face050", "the region's setting, share 0.5 of the best ranks at face value "
     "(the task's setting before the share 0.7)"),
    ("onemachine_peers", "the peers"),
    ("epyc_default", "the task's setting with the share 0.5 (as above)"),
    ("epyc_hvweights", "as above, the share's trials weighed by the volume they hold"),
    ("epyc_explore030", "as above with the share 0.3"),
    ("epyc_explore070", "as above with the share 0.7 (the task's setting)"),
    ("epyc1_default", "the task's setting with the share 0.7"),
    ("epyc1_plug_in", "as above, EHVI over the front's posterior mean"),
    ("epyc1_extend", "as above, the front extension 0.5 by EHVI below the cap"),
    ("xeon167_default", "the task's setting with the share 0.7"),
    ("xeon167_explore_all", "as above, the share's good ranks among every trial"),
    ("xeon167_extend_density", "as above, the front extension 0.5 from the share's density"),
    ("xeon167_extend_cheapest", "as above, the front extension 0.25 from the density of the "
     "cheapest trials beating the threshold"),
    ("xeon167_extend_split", "as above, below the smallest student beating the threshold "
     "credibly, the share kept above it"),
    ("xeon167_extend_drift", "as the extension 0.25 from the cheapest, each draw moved "
     "along the good trials' drift with size"),
    ("xeon167_extend_split_drift", "as the drift, below the smallest student beating the "
     "threshold credibly, the share kept above it"),
)
# the task's scores differ between machines (``results/distill_recheck.md``): the folders
# made on one named machine, against a baseline made there, carry its name as a prefix
MACHINE_PREFIXES: tuple[tuple[str, str], ...] = (("onemachine_", "task (Intel Xeon)"),
                                                 ("xeon167_", "task (Intel Xeon)"),
                                                 ("epyc_", "task (AMD EPYC)"),
                                                 ("epyc1_", "task (AMD EPYC, no AVX-512)"))
BUDGET = 100


def _one_layer_share(rows: Sequence[Mapping[str, Any]], method: str,
                     first_layer_params: float) -> float | None:
    """Share of ``method``'s post-initial trials whose student has one layer (its
    parameter count at most ``first_layer_params``), over all its seeds."""
    post = [r for r in rows if r["method"] == method and r["source"] == "model"
            and r["status"] == "completed"]
    if not post:
        return None
    return sum(r["num_parameters"] <= first_layer_params for r in post) / len(post)


def setting_rows(folder: Path, label: str, kind: str,
                 first_layer_params: float) -> list[list[str]]:
    """The table rows of one folder: one per method in its CSV."""
    csv_path = folder / f"{NAME}.csv"
    if not csv_path.is_file():
        return []
    rows = read_csv(csv_path)
    reference = json.loads((folder / NAME / "reference.json").read_text())
    out = []
    for method, s in summary(rows, reference, BUDGET).items():
        n_common = min(s["trials"].values())
        reached = [c for c in s["hv"] if c <= n_common]
        at = max(reached) if reached else None
        hv = (f"{statistics.median(s['hv'][at]):.2f} (after {at})" if at else "-")
        share = f"{statistics.median(s['share']):.0%}" if s["share"] else "-"
        one = _one_layer_share(rows, method, first_layer_params)
        trials = ", ".join(str(n) for _, n in sorted(s["trials"].items()))
        out.append([kind, f"`{folder.name}/`", label if method == "mobo" else "-", method,
                    trials, hv, share, "-" if one is None else f"{one:.0%}"])
    return out


def trust_region_section(results: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(values, tables) for the template: ``table_trust_region``, and the folders read."""
    # every 1-layer student has fewer parameters than any 2-layer one (the embeddings
    # dominate): a count at most the largest 1-layer count recorded is a 1-layer student
    one_layer = _largest_one_layer(results)
    rows: list[list[str]] = []
    for folder, label in STANDIN_SETTINGS:
        rows += setting_rows(results / "distill_standin" / folder, label, "stand-in",
                             one_layer)
    for folder, label in DEV_SETTINGS:
        kind = next((k for prefix, k in MACHINE_PREFIXES if folder.startswith(prefix)), "task")
        rows += setting_rows(results / "distill_dev" / folder, label, kind, one_layer)
    header = ["black box", "folder", "mobo setting", "method", "trials per seed",
              "median hypervolume", "median share above threshold", "1-layer proposals"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "---|" * 4 + "---:|" * 4]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = ("Development runs of the distillation search (stand-in: seeds 0-4; task: seeds "
             "0-2), from each folder's distill_compare.csv; hypervolume in EM points times "
             "the teacher's size at the largest trial count every seed of the row has "
             "reached. The task's rows made on one named machine are weighed against the "
             "rows of that machine only (its own draw of the task); the region's setting "
             "is the trust region 0.05 with recombinations.\n\n" + "\n".join(lines))
    return ({"trust_region_table": table}, {"table_trust_region": table})


def _largest_one_layer(results: Path) -> float:
    """The largest parameter count of a 1-layer student among the trials of the
    distillation journals in ``results`` (``distill*.jsonl``; every student's count is
    recorded there)."""
    best = 0.0
    for path in sorted(results.glob("distill*.jsonl")):
        asks: dict[int, dict[str, Any]] = {}
        for line in path.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a run still writing
            if e.get("event") == "ask":
                asks[e["number"]] = e
            elif e.get("event") == "tell" and e.get("values") and e["number"] in asks:
                if asks[e["number"]]["params"].get("n_layers") == 1:
                    best = max(best, float(e["values"]["num_parameters"]))
    if not best:
        raise ValueError(f"{results}: no distillation journal with a 1-layer student")
    return best
