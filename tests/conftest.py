"""Shared test configuration: hypothesis profiles.

``dev`` (the default) keeps property tests quick on a laptop; ``ci`` runs many more
examples. Pick one with ``HYPOTHESIS_PROFILE=ci pytest tests``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
