"""Mutation testing of the rule modules with mutmut (issue 17): a benchmark-like command, not a test.

    pip install -e '.[dev,mutation]'
    python -m simulations.mutation                 # every target below (hours on 2 cores)
    python -m simulations.mutation stress_stats    # one target

Each target names the modules mutmut mutates and the fast tests that cover them (mutmut runs only
those, per mutant). The run happens in a fresh copy of the committed tree (``git archive HEAD``)
under a temporary directory, so the working tree is never touched and several people can work on
while it runs; the score and the surviving mutants are printed (``mutmut results``) and go to
docs/mutation.md by hand, each survivor killed by a new test or explained as equivalent.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

#: target -> (modules to mutate, the tests that cover them)
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "stress_stats": (("risk/stress_stats.py",), ("tests/test_stress_model_pins.py",)),
    "allocation": (("risk/allocation.py",), ("tests/test_allocation_examples.py", "tests/test_allocation_properties.py")),
    "kernels": (("risk/kernels.py",), ("tests/test_kernels.py",)),
    "domain": (("fund/domain/",), ("tests/test_claim_domain.py", "tests/test_subsidy_domain.py",
                                   "tests/test_registry_refusals.py", "tests/test_identifiers.py",
                                   "tests/test_stress_model_pins.py")),
    "claims": (("fund/services/claims.py",), ("tests/test_claims_examples.py", "tests/test_claims_workflow.py")),
    "subsidies": (("fund/services/subsidies.py",), ("tests/test_subsidy_runs.py",)),
}
COPIED = ("fund", "risk", "api", "schemas", "simulations", "tests")


def _config(modules: tuple[str, ...], tests: tuple[str, ...]) -> str:
    def listed(items) -> str:
        return "\n    ".join(items)

    return (f"[mutmut]\npaths_to_mutate = {listed(modules)}\ntests_dir = {listed(tests)}\n"
            f"pytest_add_cli_args_test_selection = {listed(tests)}\n"
            f"pytest_add_cli_args = -p no:cacheprovider -x -q\nalso_copy = {listed(COPIED)}\n")


def run_target(name: str, repo: Path) -> int:
    modules, tests = TARGETS[name]
    with tempfile.TemporaryDirectory(prefix=f"mutation-{name}-") as tmp:
        tree = Path(tmp)
        archive = subprocess.run(["git", "-C", str(repo), "archive", "HEAD"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        (tree / "setup.cfg").write_text(_config(modules, tests), encoding="utf-8")
        mutmut = str(Path(sys.executable).with_name("mutmut"))
        subprocess.run([mutmut, "run"], cwd=tree)
        print(f"== {name}: surviving mutants ==", flush=True)
        return subprocess.run([mutmut, "results"], cwd=tree).returncode


def main(argv: list[str]) -> int:
    names = argv or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown target {unknown[0]!r} (one of {', '.join(TARGETS)})", file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parent.parent
    return max(run_target(name, repo) for name in names)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
