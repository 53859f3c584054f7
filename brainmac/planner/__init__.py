"""Hardware planner: catalog, brain scenarios, binding constraints, the seed's arithmetic.

>>> from brainmac.planner import make_plan
>>> plan = make_plan("microcircuit")
>>> [d.units for d in plan.designs]
[1, 1, 1]

Only the standard library is imported here; rich and matplotlib load when a report or a chart
is made (:mod:`brainmac.planner.report`, :mod:`brainmac.planner.plot`). See docs/planner.md.
"""

from brainmac.planner.calibration import load_bench
from brainmac.planner.catalog import load_catalog
from brainmac.planner.plan import make_plan, to_dict
from brainmac.planner.scenarios import PRESETS, Scenario, preset

__all__ = ["PRESETS", "Scenario", "load_bench", "load_catalog", "make_plan", "preset", "to_dict"]
