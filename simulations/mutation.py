"""Mutation testing of the rule modules with mutmut (issue 17): a benchmark-like command, not a test.

    pip install -e '.[dev,mutation]'
    python -m simulations.mutation --list                       # the targets, their modules and tests
    python -m simulations.mutation domain_claim                 # one target
    python -m simulations.mutation --keep DIR --show domain_claim  # keep the run, print each survivor's diff

Each target names the modules mutmut mutates and the fast tests that cover them (mutmut runs, per
mutant, only those of the target's tests that call the mutated function). The run happens in a
fresh copy of the committed tree (``git archive HEAD``; ``--worktree`` copies the working tree's
tracked and untracked files instead, to check new tests before they are committed) under a
temporary directory, so the working tree is never touched (no ``mutants/`` directory in the
repository). By default the run is polite to a shared machine: ``nice -n 19`` and one mutmut
worker (``--workers``); ``--max-minutes`` stops it after that long (what was tested so far is
still counted). At the end it prints the counts (killed, survived, no tests, timeout), the score
(killed and timed out over the mutants that some test ran) and the surviving mutants; the scores
and the review of each survivor go to docs/mutation.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_DOMAIN_PINS = "tests/test_mutation_kills_domain.py"
_MODEL_PINS = "tests/test_stress_model_pins.py"


def _doctests(module: str) -> str:
    """The suite's run of one module's doctests (one parameter of the doctest test)."""
    return f"tests/test_stress_model_pins.py::test_doctests_of_rule_modules_run[{module}]"


def _domain(name: str, *tests: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (f"fund/domain/{name}.py",), (*tests, _doctests(f"fund.domain.{name}"))


def _risk(name: str, *tests: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A risk/ module's target: its tests, its kill tests (skipped while not written) and its doctests."""
    kills = f"tests/test_mutation_kills_{name}.py"
    doctests = () if _MODEL_PINS in tests else (_doctests(f"risk.{name}"),)  # the whole file runs them already
    return (f"risk/{name}.py",), (*tests, kills, *doctests)


#: target -> (modules to mutate, the tests that cover them). Only fast tests without a database:
#: mutmut runs them once per mutant.
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # fund/domain/, one target per module (the rules)
    "domain_claim": _domain("claim", "tests/test_claim_domain.py", "tests/test_mutation_kills_claim.py"),
    "domain_status": _domain("status", "tests/test_registry_refusals.py", _DOMAIN_PINS),
    "domain_registry": _domain("registry", "tests/test_registry_refusals.py", "tests/test_rev2_rules.py",
                               "tests/test_mutation_kills_registry.py"),
    "domain_money": _domain("money", "tests/test_docs_rules.py", _DOMAIN_PINS),
    "domain_dates": _domain("dates", "tests/test_docs_rules.py", _DOMAIN_PINS),
    "domain_policy": _domain("policy", "tests/test_pool_policy.py", "tests/test_policies_lpr.py",
                             "tests/test_mutation_kills_policy.py"),
    "domain_lpr": _domain("lpr", "tests/test_policies_lpr.py", _DOMAIN_PINS),
    "domain_identifiers": _domain("identifiers", "tests/test_identifiers.py", "tests/test_mutation_kills_identifiers.py"),
    "domain_pool": _domain("pool", "tests/test_docs_rules.py", _DOMAIN_PINS),
    "domain_signoff": _domain("signoff", _DOMAIN_PINS),
    "domain_statements": _domain("statements", _DOMAIN_PINS),
    "domain_vocabulary": _domain("vocabulary", "tests/test_vocabulary.py", _DOMAIN_PINS),
    "domain_fees": _domain("fees", "tests/test_fees_properties.py", _DOMAIN_PINS),
    "domain_subsidy": _domain("subsidy", "tests/test_subsidy_domain.py", "tests/test_mutation_kills_subsidy.py"),
    # risk/, one target per module (each with its kill tests, where written, and its doctests)
    "stress_stats": _risk("stress_stats", "tests/test_stress_model_pins.py"),
    "allocation": _risk("allocation", "tests/test_allocation_examples.py", "tests/test_allocation_properties.py"),
    "kernels": _risk("kernels", "tests/test_kernels.py", "tests/test_allocation_examples.py"),
    "valuation": _risk("valuation", "tests/test_valuation_rules.py", "tests/test_valuation_properties.py"),
    "scenario": _risk("scenario", "tests/test_stress_inputs.py", "tests/test_stress_policy_override.py"),
    "portfolio": _risk("portfolio", "tests/test_stress_inputs.py"),
    "lending": _risk("lending", "tests/test_stress_policy_override.py", "tests/test_stress_engine.py", "tests/test_stress_draws.py"),
    "stress_result": _risk("stress_result", "tests/test_stress_importance.py", "tests/test_stress_model_pins.py"),
    "synthetic": _risk("synthetic", "tests/test_stress_draws.py", "tests/test_engine_a3_pin.py"),
    "importance": _risk("importance", "tests/test_stress_importance.py", "tests/test_stress_importance_by_year.py",
                        "tests/test_stress_importance_spread.py", "tests/test_stress_importance_suspension.py"),
    # executor_for and the run's client only: a test that starts a Dask cluster deadlocks in mutmut's
    # forked workers (seen: 20 minutes on one mutant), so DaskExecutor.run_chunks has no selected test
    # here; its mutants were reviewed in plain pytest processes (docs/mutation.md)
    "executors": (("risk/executors.py",), (
        "tests/test_stress_dask.py::test_bad_executor_is_refused_in_one_line",
        *(f"tests/test_mutation_kills_executors.py::{name}" for name in (
            "test_local_and_none_are_this_machine", "test_a_dask_spec_names_the_scheduler",
            "test_anything_else_is_refused_in_one_line_naming_what_was_given",
            "test_without_dask_the_refusal_says_how_to_install_it",
            "test_the_runs_client_is_its_own_and_gives_up_on_a_scheduler_it_cannot_reach")),
        _doctests("risk.executors"))),
    # the engine without tests/test_stress_oracle.py (30 s a run: too slow per mutant on this machine)
    "engine": _risk("engine", "tests/test_stress_engine.py", "tests/test_stress_draws.py", "tests/test_engine_a3_pin.py",
                    "tests/test_stress_policy_override.py", "tests/test_stress_model_pins.py", "tests/test_stress_importance.py",
                    "tests/test_engine_compiled.py"),  # the numpy forms of the compiled passes: compared with them
    # the compiled passes, run as Python (TARGET_ENV): mutmut cannot mutate a function numba compiled
    "compiled": _risk("compiled", "tests/test_engine_compiled.py"),
    # the claims and subsidy services
    # (fixture tests, SQLite only: the fastest files that call each part of the service; the ledger
    # check's tests of claim entries reach ``ledger_violations``)
    "claims": (("fund/services/claims.py",), (
        "tests/test_claims_examples.py", "tests/test_claims_workflow.py",
        "tests/test_ledger_check.py::test_the_check_ties_each_claim_to_its_postings",
        "tests/test_ledger_check.py::test_the_check_finds_a_stray_claim_entry_and_a_deferral_out_of_step",
        "tests/test_ledger_check.py::test_the_check_finds_cash_held_while_compensation_is_deferred",
        "tests/test_mutation_kills_claims_service.py")),
    "subsidies": (("fund/services/subsidies.py",), (
        "tests/test_mutation_kills_subsidies_service.py",  # one book per module, copied once built: the fast part
        "tests/test_subsidy_runs.py", "tests/test_subsidy_preview_parts.py", "tests/test_monthly_fees.py")),
}
#: Environment a target's runs need besides the caller's.
TARGET_ENV: dict[str, dict[str, str]] = {"compiled": {"NUMBA_DISABLE_JIT": "1"}}
#: Groups of targets, by the name of what they cover.
GROUPS: dict[str, tuple[str, ...]] = {"domain": tuple(name for name in TARGETS if name.startswith("domain_"))}
COPIED = ("fund", "risk", "api", "schemas", "simulations", "tests", "docs")
#: The tests written to kill this command's survivors (``--without-kills`` measures the score before them).
KILL_TESTS = "tests/test_mutation_kills_"


#: pytest's arguments for every mutant: stop at the first failure, and the fixture-driven tests on
#: SQLite only (their PostgreSQL run checks the same rule on the other backend, at several times the cost).
PYTEST_ARGS = ("-p", "no:cacheprovider", "-x", "-q", "-k", "not postgresql", "-p", "simulations.mutation")
#: A SQLite file migrated to head once per run (by the copy's own ``upgrade``), given to every mutant's
#: pytest as the ``sqlite_template`` fixture's value (this module is that pytest's plugin: the hook below):
#: the fixture would otherwise migrate a new template for each mutant, most of a fast test's time.
TEMPLATE_ENV = "IPFUND_MUTATION_SQLITE_TEMPLATE"


def _tryfirst(hook):
    try:
        import pytest
    except ImportError:  # the command itself needs no pytest; only the runs it starts load the hook
        return hook
    return pytest.hookimpl(tryfirst=True)(hook)


@_tryfirst
def pytest_fixture_setup(fixturedef, request):
    """pytest hook (the per-mutant runs load this module with ``-p``): the ``sqlite_template``
    fixture's value is the run's template when ``IPFUND_MUTATION_SQLITE_TEMPLATE`` names one (each
    test still copies it, as the fixture's users do); otherwise the fixture runs as usual."""
    template = os.environ.get(TEMPLATE_ENV)
    if fixturedef.argname != "sqlite_template" or not template:
        return None
    value = Path(template)
    fixturedef.cached_result = (value, fixturedef.cache_key(request), None)
    return value



def _config(modules: tuple[str, ...], tests: tuple[str, ...]) -> str:
    def listed(items) -> str:
        return "".join(f"\n    {item}" for item in items)

    return (f"[mutmut]\nsource_paths ={listed(modules)}\npytest_add_cli_args_test_selection ={listed(tests)}\n"
            f"pytest_add_cli_args ={listed(PYTEST_ARGS)}\nalso_copy ={listed(COPIED)}\n")


def _copy_tree(repo: Path, tree: Path, *, worktree: bool) -> str:
    """Fill ``tree`` with the repository's files; return what was copied (the commit, or the tree)."""
    if not worktree:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        archive = subprocess.run(["git", "-C", str(repo), "archive", "HEAD"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        return f"commit {head}"
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = repo / os.fsdecode(raw)
        if source.is_file():
            target = tree / os.fsdecode(raw)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return "the working tree"


def _sqlite_template(tree: Path) -> Path | None:
    """Migrate one SQLite file to head with the copy's own code (not a mutated module: mutmut has not
    run yet); None when that fails (each mutant's tests then migrate their own, as in the suite)."""
    path = tree / "mutation-sqlite-template.sqlite3"
    code = ("import sys; from fund.adapters.db import make_engine, upgrade; "
            "e = make_engine('sqlite:///' + sys.argv[1]); upgrade(e); e.dispose()")
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=tree, capture_output=True, text=True)
    return path if done.returncode == 0 and path.is_file() else None


def _summary(tree: Path, mutmut: str) -> dict[str, int]:
    subprocess.run([mutmut, "export-cicd-stats"], cwd=tree, capture_output=True)
    path = tree / "mutants" / "mutmut-cicd-stats.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _survivors(tree: Path, mutmut: str) -> list[str]:
    out = subprocess.run([mutmut, "results"], cwd=tree, capture_output=True, text=True).stdout
    return [line.strip().split(":")[0] for line in out.splitlines() if line.strip().endswith(": survived")]


def run_target(name: str, repo: Path, args: argparse.Namespace) -> int:
    modules, tests = TARGETS[name]
    tests = tuple(t for t in tests if _present(repo, t.split("::")[0], worktree=args.worktree)
                  and not (args.without_kills and t.startswith(KILL_TESTS)))
    if not tests:  # an empty selection would make mutmut run the whole suite per mutant
        print(f"== {name}: none of its tests exist yet; skipped", flush=True)
        return 1
    if args.keep:
        tree = Path(args.keep).resolve() / name
        if tree.exists():
            shutil.rmtree(tree)
        tree.mkdir(parents=True)
        return _run_in(name, tree, modules, tests, repo, args)
    with tempfile.TemporaryDirectory(prefix=f"mutation-{name}-") as tmp:
        return _run_in(name, Path(tmp), modules, tests, repo, args)


def _present(repo: Path, path: str, *, worktree: bool) -> bool:
    """Whether the test file is in what the run copies (a target may name kill tests not written yet)."""
    if worktree:
        return (repo / path).is_file()
    return subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"HEAD:{path}"], capture_output=True).returncode == 0


def _stop(process: subprocess.Popen) -> None:
    """Stop a mutmut run and its workers (its own process group): SIGINT, then SIGTERM, then SIGKILL.
    The mutants tested so far keep their results (mutmut saves each as it is tested)."""
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_in(name: str, tree: Path, modules, tests, repo: Path, args: argparse.Namespace) -> int:
    copied = _copy_tree(repo, tree, worktree=args.worktree)
    (tree / "setup.cfg").write_text(_config(modules, tests), encoding="utf-8")
    env = dict(os.environ)
    template = _sqlite_template(tree)
    if template:
        env[TEMPLATE_ENV] = str(template)
    env.update(TARGET_ENV.get(name, {}))
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    print(f"== {name}: mutating {', '.join(modules)} of {copied} against {', '.join(tests)} "
          f"(pytest {' '.join(PYTEST_ARGS)}; nice {args.nice}, {args.workers} worker(s)"
          f"{''.join(f'; {key}={value}' for key, value in TARGET_ENV.get(name, {}).items())})", flush=True)
    started = time.monotonic()
    command = ["nice", "-n", str(args.nice), mutmut, "run", "--max-children", str(args.workers)]
    process = subprocess.Popen(command, cwd=tree, start_new_session=True, env=env)
    try:
        process.wait(timeout=args.max_minutes * 60 if args.max_minutes else None)
    except subprocess.TimeoutExpired:
        print(f"== {name}: stopped after {args.max_minutes} minutes", flush=True)
        _stop(process)
    minutes = (time.monotonic() - started) / 60
    if process.returncode not in (0, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL):
        print(f"== {name}: mutmut run failed (exit {process.returncode}); see its output above", flush=True)
    stats = _summary(tree, mutmut)
    survivors = _survivors(tree, mutmut)
    # a mutant that crashes the test process ("segfault") fails the tests: caught, as a timeout is
    caught = stats.get("killed", 0) + stats.get("timeout", 0) + stats.get("segfault", 0)
    tested = caught + stats.get("survived", 0) + stats.get("suspicious", 0)
    score = caught / tested if tested else 0.0
    print(f"== {name}: {stats.get('total', 0)} mutants, {stats.get('killed', 0)} killed, {stats.get('timeout', 0)} timed out, "
          f"{stats.get('segfault', 0)} crashed the tests, "
          f"{stats.get('survived', 0)} survived, {stats.get('no_tests', 0)} with no covering test, "
          f"{stats.get('suspicious', 0)} suspicious; score {score:.0%} of {tested} tested; {minutes:.1f} min", flush=True)
    print(f"== {name}: surviving mutants ==", flush=True)
    for mutant in survivors:
        print(f"    {mutant}")
        if args.show:
            diff = subprocess.run([mutmut, "show", mutant], cwd=tree, capture_output=True, text=True).stdout
            print("\n".join("        " + line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")))
    sys.stdout.flush()
    return 0 if process.returncode == 0 and tested else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.mutation", description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"targets or groups ({', '.join([*GROUPS, *TARGETS])}); all when none")
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    parser.add_argument("--workers", type=int, default=1, help="mutmut workers (default 1)")
    parser.add_argument("--nice", type=int, default=19, help="niceness of the run (default 19)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop each target after this many minutes")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR/<target> and keep it (for mutmut show / browse)")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    parser.add_argument("--without-kills", action="store_true",
                        help=f"leave out the {KILL_TESTS}*.py tests (the score before they were written)")
    parser.add_argument("--worktree", action="store_true", help="mutate the working tree's files, not the committed HEAD")
    args = parser.parse_args(argv)
    if args.list:
        for name, (modules, tests) in TARGETS.items():
            print(f"{name}: {' '.join(modules)} <- {' '.join(tests)}")
        return 0
    names = [t for n in (args.targets or list(TARGETS)) for t in GROUPS.get(n, (n,))]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown target {unknown[0]!r} (one of {', '.join([*GROUPS, *TARGETS])})", file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parent.parent
    return max(run_target(name, repo, args) for name in names)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
