"""Procedural, seeded worlds: kinema's embedded training data and benchmark.

    from kinema.worlds import render
    sample = render("physics/collision", seed=3, frames=32, width=64, height=64)

Worlds: `physics` (Phyworld's scenarios), `scenes` (pymunk rigid bodies), `explore` (first-person 3D walk).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kinema.worlds.base import Sample

WORLDS = ("physics", "scenes", "explore")

__all__ = ["WORLDS", "Sample", "render", "scenarios", "world_module", "parse_name"]


def world_module(world: str) -> ModuleType:
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; choose one of: {', '.join(WORLDS)}")
    return importlib.import_module(f"kinema.worlds.{world}")


def scenarios(world: str) -> tuple[str, ...]:
    return tuple(world_module(world).SCENARIOS)


def parse_name(name: str) -> tuple[str, str | None]:
    """"physics/collision" -> ("physics", "collision"); "physics" -> ("physics", None)."""
    world, _, scenario = name.partition("/")
    mod = world_module(world)
    if scenario and scenario not in mod.SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r} for world {world!r}; choose one of: "
                         f"{', '.join(mod.SCENARIOS)}")
    return world, scenario or None


def render(name: str, **kwargs) -> Sample:
    """Render one clip of WORLD[/SCENARIO]; without a scenario one is picked from the seed."""
    world, scenario = parse_name(name)
    mod = world_module(world)
    if scenario is None:
        seed = int(kwargs.get("seed", 0))
        scenario = mod.SCENARIOS[seed % len(mod.SCENARIOS)]
    return mod.render(scenario, **kwargs)
