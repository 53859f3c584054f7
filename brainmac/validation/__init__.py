"""Fidelity: brainmac against NEST's seed-to-seed spread, or against published rates.

``brainmac validate`` runs this package; docs/fidelity.md explains the method and holds the
measured results.
"""

from brainmac.validation.runs import RunResult, ValidationConfig
from brainmac.validation.spread import cell_verdicts, default_tolerance, summarize
from brainmac.validation.study import (
    NestValidation,
    PublishedValidation,
    validate_nest,
    validate_published,
)

__all__ = [
    "NestValidation", "PublishedValidation", "RunResult", "ValidationConfig", "cell_verdicts",
    "default_tolerance", "summarize", "validate_nest", "validate_published",
]  # fmt: skip
