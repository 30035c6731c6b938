"""The parallel launcher of the distillation comparison: which runs start when, what it does
with bad arguments, and one end-to-end launch on the stand-in."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks import distill_compare as DC
from benchmarks import distill_compare_parallel as P

JOBS = [("mobo", 10), ("tpe", 10), ("gp", 10), ("mobo", 11), ("tpe", 11)]


def test_each_seeds_first_method_leads() -> None:
    assert P.leaders(JOBS) == {10: "mobo", 11: "mobo"}
    assert P.leaders([("sobol", 3), ("mobo", 3)]) == {3: "sobol"}


def test_followers_wait_for_their_leaders_design_and_the_limit_holds() -> None:
    lead = P.leaders(JOBS)
    # nothing past the design yet: only the leaders start, as many as the limit allows
    assert P.startable(JOBS, 0, 4, lead, lambda s: False) == [("mobo", 10), ("mobo", 11)]
    assert P.startable(JOBS, 0, 1, lead, lambda s: False) == [("mobo", 10)]
    # seed 10's design is done: its followers start, in order, up to the limit
    pending = [("tpe", 10), ("gp", 10), ("tpe", 11)]
    assert P.startable(pending, 2, 4, lead, lambda s: s == 10) == [("tpe", 10), ("gp", 10)]
    assert P.startable(pending, 2, 3, lead, lambda s: s == 10) == [("tpe", 10)]
    assert P.startable(pending, 4, 4, lead, lambda s: True) == []


def test_a_run_is_past_its_design_at_its_first_model_trial() -> None:
    assert not P.past_design([])
    assert not P.past_design([{"source": "initial"}] * 3)
    assert P.past_design([{"source": "initial"}, {"source": "model"}])


def _fake_run(out_dir: Path, trials: int, n_initial: int, code: int = 0) -> str:
    """A child that writes a per-run file as distill_compare does, then exits ``code``."""
    return (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        f"path = Path(sys.argv[1])\npath.parent.mkdir(parents=True, exist_ok=True)\n"
        f"for k in range({trials}):\n"
        "    with path.open('a') as f:\n"
        f"        f.write(json.dumps({{'trial': k, 'source': 'initial' if k < {n_initial} "
        "else 'model', 'status': 'completed'}) + '\\n')\n"
        "    time.sleep(0.05)\n"
        f"sys.exit({code})\n")


def test_the_launcher_starts_followers_after_the_design_and_reports_failures(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    jobs = [("sobol", 1), ("tpe", 1), ("gp", 1)]
    started: list[tuple[str, int]] = []
    lines: list[str] = []

    def command(job: tuple[str, int]) -> list[str]:
        # the leader's file must show a model trial before a follower starts
        if job != ("sobol", 1):
            assert P.past_design(DC.records(out, "sobol", 1)), job
        started.append(job)
        code = 3 if job == ("gp", 1) else 0
        return [sys.executable, "-c", _fake_run(out, 4, 2, code),
                str(DC.run_path(out, *job))]

    (tmp_path / "logs").mkdir()
    launcher = P.Launcher(jobs, 2, out, tmp_path / "logs", command, dict(os.environ),
                          say=lines.append,
                          poll_s=0.05, progress_s=0.1)
    ended = launcher.run()
    assert started[0] == ("sobol", 1) and sorted(started) == sorted(jobs)
    assert ended == {("sobol", 1): 0, ("tpe", 1): 0, ("gp", 1): 3}
    assert all(len(DC.records(out, *job)) == 4 for job in jobs)
    assert any("gp seed 1: ended with 4 trials, exit status 3" in ln for ln in lines)
    assert (tmp_path / "logs" / "gp-1.log").is_file()


def test_a_terminated_launcher_stops_its_runs(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    child = ("import os, sys, time\n"
             "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
             "time.sleep(60)\n")
    (tmp_path / "logs").mkdir()
    launcher = P.Launcher([("tpe", 1)], 1, tmp_path / "out", tmp_path / "logs",
                          lambda job: [sys.executable, "-c", child, str(pid_file)],
                          dict(os.environ), say=lambda msg: None, poll_s=0.05)

    def terminate_when_started() -> None:
        deadline = time.monotonic() + 20.0
        while not pid_file.is_file() or not pid_file.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill <launcher pid>` would

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=terminate_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        launcher.run()
    # the child was terminated and reaped, and the handler put back
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("argv, needle", [
    (["--jobs", "0"], "--jobs: must be >= 1"),
    (["--threads", "0"], "--threads: must be >= 1"),
    (["--budget", "1"], "--budget: must be >= 2"),
    (["--methods", "mobo", "mobo"], "each value once"),
    (["--methods", "random"], "invalid choice"),
    (["--mobo-trust-region", "-3"], "expected a number in (0, 1] or none"),
    (["--mobo-explore", "1"], "expected a number in [0, 1) or none"),
    (["--mobo-warp", "log"], "invalid choice"),
    (["--standin", "--eval-cache", "c.jsonl"], "the stand-in keeps no evaluation cache"),
    (["--eval-cache", "/no/such/folder/c.jsonl"], "is not a folder"),
])
def test_bad_arguments_exit_2_before_anything_starts(
        argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        P.main([*argv, "--out-dir", str(tmp_path / "out")])
    assert e.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_real_task_runs_and_stand_in_runs_never_share_a_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    DC.run_path(tmp_path, "sobol", 0).parent.mkdir(parents=True)
    DC.run_path(tmp_path, "sobol", 0).write_text(json.dumps({"trial": 0}) + "\n")
    with pytest.raises(SystemExit) as e:
        P.main(["--standin", "--out-dir", str(tmp_path)])
    assert e.value.code == 2 and "holds real-task runs" in capsys.readouterr().err


def test_an_end_to_end_launch_on_the_stand_in(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert P.main(["--standin", "--methods", "sobol", "mobo", "--seeds", "0", "--budget", "6",
                   "--jobs", "2", "--out-dir", str(out), "--progress", "5"]) == 0
    text = capsys.readouterr().out
    assert "2 runs, 2 at a time" in text and "mobo seed 0: ended with 6 trials" in text
    rows = DC.read_csv(out / "distill_compare.csv")
    assert sorted({(r["method"], r["seed"]) for r in rows}) == [("mobo", 0), ("sobol", 0)]
    assert len(rows) == 12
    # both runs start from the seed's design: mobo's initial trials are sobol's
    first = {m: [(r["exact"], r["num_parameters"]) for r in rows
                 if r["method"] == m and r["source"] == "initial"] for m in ("mobo", "sobol")}
    assert first["mobo"] == first["sobol"] and first["mobo"]
    assert (out / "distill_compare.md").is_file()


def test_mobo_settings_and_the_cache_reach_every_run_as_given(tmp_path: Path) -> None:
    cache = tmp_path / "elsewhere" / "evaluations.jsonl"
    cache.parent.mkdir()
    args = P.parse_args(["--methods", "mobo", "tpe", "--seeds", "0", "--out-dir",
                         str(tmp_path / "out"), "--mobo-trust-region", "0.1",
                         "--mobo-explore", "0.3", "--mobo-warp", "rank",
                         "--no-mobo-threshold-model",
                         "--eval-cache", str(cache)])
    for job in (("mobo", 0), ("tpe", 0)):
        cmd = P.run_command(args, job)
        # what the sequential command then parses is what was given here
        seq = DC.parse_args(cmd[cmd.index("--methods"):])
        assert seq.mobo_trust_region == 0.1 and seq.mobo_warp == "rank"
        assert seq.mobo_explore == 0.3 and DC.mobo_overrides(seq)["explore"] == 0.3
        assert seq.mobo_threshold_model is False and seq.eval_cache == str(cache)
        assert seq.methods == [job[0]] and seq.seeds == [0]
    noisy = P.parse_args(["--out-dir", str(tmp_path / "out"), "--mobo-noisy",
                          "--mobo-front-samples", "8"])
    seq = DC.parse_args(P.run_command(noisy, ("mobo", 0))[3:])
    assert DC.mobo_overrides(seq) == {"noisy": True, "proposer_options": {"n_front_samples": 8}}
    sampled = P.parse_args(["--out-dir", str(tmp_path / "out"), "--mobo-sample-front",
                            "--mobo-front-samples", "8"])
    seq = DC.parse_args(P.run_command(sampled, ("mobo", 0))[3:])
    assert DC.mobo_overrides(seq) == {"proposer_options": {"n_front_samples": 8,
                                                           "sample_front": True}}
    plug = P.parse_args(["--out-dir", str(tmp_path / "out"), "--mobo-sample-front",
                         "--mobo-plug-in-front"])
    seq = DC.parse_args(P.run_command(plug, ("mobo", 0))[3:])
    assert DC.mobo_overrides(seq) == {"proposer_options": {"sample_front": True,
                                                           "plug_in_front": True}}
    dev = P.parse_args(["--out-dir", str(tmp_path / "out"), "--mobo-extend", "0.5",
                        "--mobo-explore-good", "all", "--mobo-extend-by", "density"])
    seq = DC.parse_args(P.run_command(dev, ("mobo", 0))[3:])
    assert DC.mobo_overrides(seq) == {"proposer_options": {"extend": 0.5,
                                                           "extend_by": "density",
                                                           "explore_good": "all"}}
    for bad in (["--mobo-extend", "1.5"], ["--mobo-explore-good", "some"],
                ["--mobo-extend-by", "density"],
                ["--mobo-extend", "0", "--mobo-extend-by", "density"],
                ["--mobo-extend", "0.5", "--mobo-extend-by", "tpe"]):
        with pytest.raises(SystemExit):
            P.parse_args(bad)
    with pytest.raises(SystemExit):
        P.parse_args(["--mobo-plug-in-front"])
    with pytest.raises(SystemExit):
        P.parse_args(["--mobo-front-samples", "8"])
    plain = P.parse_args(["--out-dir", str(tmp_path / "out")])
    seq = DC.parse_args(P.run_command(plain, ("mobo", 10))[3:])
    assert (seq.mobo_trust_region, seq.mobo_explore, seq.mobo_warp,
            seq.mobo_threshold_model, seq.mobo_noisy, seq.mobo_front_samples,
            seq.eval_cache) == (None, None, None, None, None, None, None)


def test_a_launch_with_a_trust_region_runs_mobo_with_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert P.main(["--standin", "--methods", "mobo", "--seeds", "0", "--budget", "3",
                   "--jobs", "1", "--out-dir", str(out), "--mobo-trust-region", "0.2",
                   "--no-report"]) == 0
    header = json.loads(DC.run_path(out, "mobo", 0).read_text().splitlines()[0])
    assert header["trust_region"] == 0.2
