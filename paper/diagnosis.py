"""The paper's section on why the distillation search piled into 1-layer students.

``results/distill_diagnosis.json`` is written by ``python -m benchmarks.distill_diagnosis``,
which replays the committed distillation journals after the fact: at a sample of model
proposals it rebuilds the study just before the ask, refits the surrogate as the proposer
did, splits the proposal's exact expected hypervolume improvement (Emmerich et al., 2016;
Yang et al., 2019) over the strips of the two-objective non-dominated region, compares the
proposal with a 4-layer alternative, scores candidate remedies, reruns the proposer under
its opt-in options (``num_parameters`` known in closed form; output warps fitted before the
GP, rank normal scores or Yeo & Johnson, 2000, as in HEBO, Cowen-Rivers et al., 2022) on
the same states, and checks the ``exact`` GP at the end of the run by its closed-form
leave-one-out predictive (Rasmussen & Williams, 2006, sec. 5.4.2).

:func:`diagnosis_section` turns that file into the values of the template's ``diag_*``
placeholders, two markdown tables (leave-one-out calibration by group; remedies) and one
figure. Every number is read from the JSON or counted from it here (medians and counts over
the sampled proposals, computed the way the script's own report computes them); nothing is
re-run. A malformed file raises ``KeyError``, ``TypeError``, ``ValueError`` or
``IndexError``, which ``paper.figures`` reports as bad input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["CALIBRATION_GROUPS", "REMEDY_NOTES", "diagnosis_section", "representative",
           "select_journal"]

# an observation within this of the threshold is an always-no-answer student: the same
# tolerance benchmarks/distill_diagnosis.py groups its leave-one-out check by
PLATEAU_TOL = 0.01

# (group key in the JSON's calibration, how the paper names it)
CALIBRATION_GROUPS: tuple[tuple[str, str], ...] = (
    ("plateau", "on the threshold (always no answer)"),
    ("below", "below the threshold (collapsed)"),
    ("above", "above the threshold"),
    ("one_layer", "1-layer students"),
    ("teacher_3plus", "teacher init, 3+ layers"),
)

# what each remedy changes; a remedy the JSON names but this table does not is shown by
# its key, so a new remedy in the script cannot be dropped silently
REMEDY_NOTES: dict[str, str] = {
    "baseline": "none: the surrogate as the proposer fitted it; the rerun columns count the "
                "journal's own proposals",
    "known_size": "num_parameters from its closed form (sd 0)",
    "clamp": "exact below the threshold clamped to it before the fit",
    "clamp_known_size": "clamp and known num_parameters",
    "fixed_ref": "reference num_parameters = the teacher's size",
    "clamp_fixed_ref": "clamp and the teacher-size reference",
    "noise_prior": "the exact GP fitted with the wider noise prior of noisy mode",
    "noisy": "the proposer in noisy mode",
    "rank_warp": "exact replaced by the normal scores of its ranks",
    "all": "clamp, known num_parameters and the teacher-size reference",
    # the proposer's opt-in options, on the journal's own inputs
    "known": "option: num_parameters known in closed form",
    "known_rank": "options: num_parameters known, rank warp of exact",
    "known_yj": "options: num_parameters known, Yeo-Johnson warp of exact",
    "rank": "option: rank warp of both objectives",
    "yeo-johnson": "option: Yeo-Johnson warp of both objectives",
}

_GROUP_COLOURS = {"plateau": "0.45", "below": "#d62728", "above": "#1f77b4"}
_DASH = "–"


def select_journal(data: Mapping[str, Any], journal: str) -> Mapping[str, Any]:
    """The diagnosis of ``journal`` (a path as the JSON writes it, relative to the
    repository root) if the file holds one, else its first journal's."""
    journals = data["journals"]
    for entry in journals.values():
        if entry["path"] == journal:
            return entry
    return next(iter(journals.values()))


def representative(props: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The sampled 1-layer proposal whose lead over the 4-layer alternative (log EHVI, as
    fitted) is the median one among the 1-layer proposals (the upper median for an even
    count, as the script's report picks it); None if there is none."""
    one = [p for p in props if p["params"]["n_layers"] == 1]
    if not one:
        return None
    gap = [_lead(p, "baseline") for p in one]
    return one[int(np.argsort(gap)[len(gap) // 2])]


def _lead(p: Mapping[str, Any], fix: str) -> float:
    """log EHVI of the proposal minus that of the 4-layer alternative under ``fix``."""
    r = p["fixes"][fix]
    return float(r["proposal"]["log_ehvi"] - r["alt4"]["log_ehvi"])


def _run_at_depth(j: Mapping[str, Any], chosen: Sequence[Mapping[str, Any]]) -> float:
    """The mean over ``chosen`` (proposals) of the mean exact that the whole run's students
    with the proposal's depth and init scored (NaN where the run has none), as the script's
    report computes it."""
    rows = {(r["n_layers"], r["init"]): r["mean"] for r in j["observed_by_depth"]}
    return float(np.mean([rows.get((c["n_layers"], c["init"]), np.nan) for c in chosen]))


def _ordinal(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]],
              align: Sequence[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


# ---------------------------------------------------------------------------- sections
def _proposal_values(j: Mapping[str, Any]) -> dict[str, str]:
    """The sampled proposals: how many are 1-layer, what the surrogate predicted for them
    against what 1-layer students scored, and where their EHVI comes from."""
    props = j["proposals"]
    thr = float(j["threshold"])
    one = [p for p in props if p["params"]["n_layers"] == 1]
    if not one:
        raise ValueError("no sampled proposal is a 1-layer student: the section does not "
                         "apply")
    observed = np.array([t["exact"] for t in j["trials"]
                         if t["exact"] is not None and t["n_layers"] == 1], dtype=float)
    if not len(observed):
        raise ValueError("no completed 1-layer trial")
    kept = observed[observed >= thr - PLATEAU_TOL]  # those that did not collapse
    rep = representative(props)
    assert rep is not None  # there are 1-layer proposals
    dom = rep["strip_summary"]["dominant"]
    b = rep["fixes"]["baseline"]
    top = "the top" if dom["exact_to"] is None else f"{dom['exact_to']:.1f}"
    fits = ("is too large for" if b["alt4"]["size_closed"] >= dom["size_below"]
            else "fits in")
    predicted = [p["fixes"]["baseline"]["proposal"] for p in one]
    return {
        "diag_journal": str(j["path"]),
        "diag_n_trials": str(j["n_trials"]),
        "diag_n_model": str(j["n_model_proposals"]),
        "diag_n": str(len(props)),
        "diag_one_n": str(len(one)),
        "diag_one_mean": f"{_median([r['exact_mean'] for r in predicted]):.1f}",
        "diag_one_sd": f"{_median([r['exact_sd'] for r in predicted]):.1f}",
        "diag_one_trials": str(len(observed)),
        "diag_one_max": f"{observed.max():.1f}",
        "diag_one_kept_n": str(len(kept)),
        "diag_one_kept_mean": f"{kept.mean():.2f}" if len(kept) else "n/a",
        "diag_one_kept_sd": f"{kept.std():.2f}" if len(kept) else "n/a",
        "diag_beyond": f"{_median([p['strip_summary']['beyond_depth_best'] for p in one]):.0%}",
        "diag_rep_trial": str(rep["trial"]),
        "diag_rep_share": f"{dom['share']:.0%}",
        "diag_rep_band": f"{dom['exact_from']:.1f} to {top}",
        "diag_rep_size_below": f"{dom['size_below'] / 1e6:.2f}M",
        "diag_rep_size": f"{b['proposal']['size_closed'] / 1e6:.2f}M",
        "diag_rep_z": f"{dom['z_needed']:.2f}",
        "diag_rep_alt_size": f"{b['alt4']['size_closed'] / 1e6:.2f}M",
        "diag_rep_alt_fits": fits,
        "diag_gap": f"{_median([_lead(p, 'baseline') for p in props]):.1f}",
    }


def _calibration(j: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """Leave-one-out calibration of the exact GP at the end of the run, by group: as the
    proposer fitted it and with values below the threshold clamped to it."""
    cal = j["end"]["calibration"]
    clamped = j["end"]["calibration_clamped"]
    rows = []
    for key, label in CALIBRATION_GROUPS:
        c, k = cal[key], clamped[key]
        row = [label, str(c["n"])]
        row += ([f"{c['rmse']:.2f}", f"{c['mean_sd']:.2f}", f"{c['z_sd']:.2f}",
                 f"{c['coverage_2sd']:.0%}"] if c["n"] else [_DASH] * 4)
        row += [f"{k['z_sd']:.2f}", f"{k['coverage_2sd']:.0%}"] if k["n"] else [_DASH] * 2
        rows.append(row)
    table = _md_table(
        ["group", "n", "RMSE (EM)", "mean sd (EM)", "z sd", "±2 sd coverage",
         "clamped: z sd", "clamped: ±2 sd coverage"],
        rows, ["---"] + ["---:"] * 7)
    one, one_c = cal["one_layer"], clamped["one_layer"]
    deep, deep_c = cal["teacher_3plus"], clamped["teacher_3plus"]
    values = {
        "diag_below_n": str(cal["below"]["n"]),
        "diag_plateau_z_sd": f"{cal['plateau']['z_sd']:.2f}",
        "diag_one_rmse": f"{one['rmse']:.2f}",
        "diag_one_loo_sd": f"{one['mean_sd']:.2f}",
        "diag_one_rmse_clamped": f"{one_c['rmse']:.2f}",
        "diag_one_loo_sd_clamped": f"{one_c['mean_sd']:.2f}",
        "diag_deep_z_sd": f"{deep['z_sd']:.2f}",
        "diag_deep_cover": f"{deep['coverage_2sd']:.0%}",
        "diag_deep_z_sd_clamped": f"{deep_c['z_sd']:.2f}",
        "diag_deep_cover_clamped": f"{deep_c['coverage_2sd']:.0%}",
        "diag_calibration_table": table,
    }
    return values, table


def _size_values(j: Mapping[str, Any]) -> dict[str, str]:
    """The num_parameters GP against the objective's closed form."""
    sg = j["end"]["size_gp"]
    size_sd = [p["fixes"]["baseline"]["proposal"]["size_sd"] for p in j["proposals"]]
    return {
        "diag_size_sd": f"{_median(size_sd):,.0f}",
        "diag_one_head": f"{sg['one_head_step']:,.0f}",
        "diag_size_grid_err": f"{sg['grid_max_abs_err']:,.0f}",
        "diag_size_grid_sd": f"{sg['grid_max_sd']:,.0f}",
        "diag_size_matches": f"{j['size_closed_form_matches'][0]} of "
                             f"{j['size_closed_form_matches'][1]}",
    }


def _remedies(j: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """Per remedy, over the sampled states: how often the 4-layer alternative outranks the
    proposal, how often the best depth (over every depth and init) is 3 or more, and, for
    the remedies that only change the proposer's inputs and for the proposer's opt-in
    options, what the proposer then picks."""
    props = j["proposals"]
    n = len(props)
    fixes = list(props[0]["fixes"])
    rerun = list(props[0].get("repropose", {}))
    options = list(props[0].get("options", {}))
    values: dict[str, str] = {}
    rows = []
    for name in fixes + [w for w in rerun if w not in fixes] + options:
        row = [name, REMEDY_NOTES.get(name, name)]
        if name in fixes:
            flips = sum(_lead(p, name) < 0 for p in props)
            deep = sum(p["fixes"][name]["grid_best"]["n_layers"] >= 3 for p in props)
            values[f"diag_flips_{name}"] = f"{flips}/{n}"
            row += [f"{flips}/{n}", f"{deep}/{n}"]
        else:
            row += [_DASH, _DASH]
        if name == "baseline":
            chosen = [p["params"] for p in props]
        elif name in options:
            chosen = [p["options"][name] for p in props]
        elif name in rerun:
            chosen = [p["repropose"][name] for p in props]
        else:
            chosen = []
        if chosen:
            deep = sum(c["n_layers"] >= 3 for c in chosen)
            teacher = sum(c["init"] == "teacher" for c in chosen)
            if name in options:
                # placeholder names take no hyphen (yeo-johnson)
                key = name.replace("-", "_")
                values[f"diag_option_{key}"] = f"{deep}/{n}"
                values[f"diag_option_{key}_teacher"] = f"{teacher}/{n}"
                values[f"diag_option_{key}_exact"] = \
                    f"{_median([c['exact_median'] for c in chosen]):.1f}"
                values[f"diag_option_{key}_run"] = f"{_run_at_depth(j, chosen):.1f}"
            elif name == "baseline":
                values["diag_rerun_baseline"] = f"{deep}/{n}"
                values["diag_as_run_run"] = f"{_run_at_depth(j, chosen):.1f}"
            else:
                values[f"diag_rerun_{name}"] = f"{deep}/{n}"
            row += [f"{deep}/{n}", f"{teacher}/{n}"]
        else:
            row += [_DASH, _DASH]
        rows.append(row)
    table = _md_table(
        ["remedy", "what changes", "4-layer alternative outranks the proposal",
         "best depth >= 3", "rerun: proposals with >= 3 layers", "rerun: init = teacher"],
        rows, ["---", "---", "---:", "---:", "---:", "---:"])
    values["diag_remedies_table"] = table
    return values, table


def _others(data: Mapping[str, Any], chosen: Mapping[str, Any]) -> str:
    """A clause naming the other journals the file diagnoses, with their 1-layer counts."""
    parts = []
    for entry in data["journals"].values():
        if entry is chosen:
            continue
        props = entry["proposals"]
        one = sum(p["params"]["n_layers"] == 1 for p in props)
        parts.append(f"`{entry['path']}` ({one} of its {len(props)} sampled proposals are "
                     "1-layer students)")
    if not parts:
        return ""
    return "; it also diagnoses " + ", ".join(parts)


# ---------------------------------------------------------------------------- figure
def _figure(j: Mapping[str, Any]) -> Figure:
    """Left: the sampled proposals' predicted exact against the 4-layer alternative's.
    Right: the exact GP's leave-one-out predictions at the end of the run."""
    fig = Figure(figsize=(10.0, 4.6), layout="constrained")
    ax, ax_loo = fig.subplots(1, 2)
    props = j["proposals"]
    thr = float(j["threshold"])
    trial = np.array([p["trial"] for p in props], dtype=float)
    shift = 0.015 * (trial.max() - trial.min() + 1.0)  # the two bars side by side
    for key, label, colour, dx in (("proposal", "proposal", "#9467bd", -shift),
                                   ("alt4", "4-layer teacher alternative", "#1f77b4", shift)):
        mean = [p["fixes"]["baseline"][key]["exact_mean"] for p in props]
        sd = [p["fixes"]["baseline"][key]["exact_sd"] for p in props]
        ax.errorbar(trial + dx, mean, yerr=sd, fmt="o", ms=3.5, capsize=2, lw=1.0,
                    color=colour, label=f"{label}: GP mean ± sd")
    for p in props:
        ax.annotate(f"{p['params']['n_layers']}L",
                    (p["trial"] - shift, p["fixes"]["baseline"]["proposal"]["exact_mean"]),
                    textcoords="offset points", xytext=(0, 6), ha="center", fontsize=6)
    seen = [(p["trial"], p["observed_exact"]) for p in props if p["observed_exact"] is not None]
    ax.scatter([s[0] for s in seen], [s[1] for s in seen], marker="x", s=18, color="k",
               zorder=3, label="proposal, observed")
    one = [t["exact"] for t in j["trials"] if t["exact"] is not None and t["n_layers"] == 1]
    if one:
        ax.axhline(max(one), color="#9467bd", ls=":", lw=0.9,
                   label="best 1-layer student of the run")
    ax.axhline(thr, color="k", ls="--", lw=0.8, label="threshold (always no answer)")
    ax.set_xlabel("trial of the sampled proposal (label: its depth)")
    ax.set_ylabel("exact match (%)")
    ax.set_title("Predicted exact at the sampled proposals", fontsize=9)
    # below the axes: any corner of the plot may hold a proposal
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.grid(True, lw=0.3, alpha=0.5)

    rows = j["end"]["loo"]
    obs = np.array([r["observed"] for r in rows], dtype=float)
    mean = np.array([r["mean"] for r in rows], dtype=float)
    sd = np.array([r["sd"] for r in rows], dtype=float)
    groups = {"plateau": np.abs(obs - thr) <= PLATEAU_TOL,
              "below": obs < thr - PLATEAU_TOL, "above": obs > thr + PLATEAU_TOL}
    cal = j["end"]["calibration"]
    for g in ("below", "above", "plateau"):
        mask = groups[g]
        if not mask.any():
            continue
        c = cal[g]
        # the plateau's students share one observed value: spread them (by a fixed pattern,
        # so the figure's bytes do not change) to keep their bars apart
        spread = np.linspace(-1.5, 1.5, int(mask.sum())) if g == "plateau" else 0.0
        ax_loo.errorbar(obs[mask] + spread, mean[mask], yerr=2 * sd[mask], fmt="o", ms=2.5,
                        lw=0.6, alpha=0.6, color=_GROUP_COLOURS[g],
                        label=f"{g} (n = {c['n']}): ±2 sd covers {c['coverage_2sd']:.0%}, "
                              f"z sd {c['z_sd']:.2f}")
    lo = float(min(obs.min(), mean.min())) - 5
    hi = float(max(obs.max(), mean.max())) + 5
    ax_loo.plot([lo, hi], [lo, hi], color="k", lw=0.7)
    ax_loo.axvline(thr, color="k", ls="--", lw=0.7)
    ax_loo.set_xlabel("observed exact (%) (plateau spread for visibility)")
    ax_loo.set_ylabel("leave-one-out prediction (%), ±2 sd")
    ax_loo.set_title("The exact GP at the end of the run, leave-one-out", fontsize=9)
    ax_loo.legend(fontsize=6.5, loc="upper left")
    ax_loo.grid(True, lw=0.3, alpha=0.5)
    fig.suptitle(f"Diagnosis of {j['path']} (replayed; not a new run)", fontsize=9)
    return fig


def diagnosis_section(data: Mapping[str, Any], journal: str
                      ) -> tuple[dict[str, str], dict[str, str], Figure]:
    """Placeholder values, markdown tables (by file name) and the figure of the section.

    ``journal`` is the paper's distillation journal relative to the repository root; its
    diagnosis is used when the file holds one, else the file's first journal's (the
    section names the journal it reports).
    """
    j = select_journal(data, journal)
    values: dict[str, str] = {"diag_sample": f"every {_ordinal(int(data['stride']))}",
                              "diag_others": _others(data, j)}
    values.update(_proposal_values(j))
    v, calibration = _calibration(j)
    values.update(v)
    values.update(_size_values(j))
    v, remedies = _remedies(j)
    values.update(v)
    tables = {"table_distill_diagnosis_calibration": calibration,
              "table_distill_diagnosis_remedies": remedies}
    return values, tables, _figure(j)
