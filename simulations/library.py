"""The shipped scenario library (``simulations/scenarios/*.toml``) and name-or-file resolution.

>>> [s.name for s in shipped_scenarios()][:2]
['baseline', 'budget_freeze']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from risk.scenario import Scenario, ScenarioError, load_scenario_file


def scenario_dir() -> Path:
    return Path(str(resources.files("simulations").joinpath("scenarios")))


def shipped_scenarios() -> list[Scenario]:
    """Every shipped scenario, by file name."""
    return [load_scenario_file(path) for path in sorted(scenario_dir().glob("*.toml"))]


def resolve_scenario(name_or_file: str) -> Scenario:
    """A shipped scenario by name, or a scenario file by path."""
    candidate = Path(name_or_file)
    if candidate.suffix == ".toml" or candidate.exists() or "/" in name_or_file:
        if not candidate.is_file():
            raise ScenarioError(f"{name_or_file}: no such scenario file")
        return load_scenario_file(candidate)
    shipped = scenario_dir() / f"{name_or_file}.toml"
    if shipped.is_file():
        return load_scenario_file(shipped)
    names = ", ".join(p.stem for p in sorted(scenario_dir().glob("*.toml")))
    raise ScenarioError(f"unknown scenario {name_or_file!r} (shipped: {names}; or give a .toml file)")
