"""kandian's test suite, run with ``trial tests`` (``make test``).

One hypothesis profile for the whole suite, as Twisted's own test package
registers it: deterministic, no deadline (CI machines stall), and no health
check for slow data generation.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "kandian",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    max_examples=200,
)
settings.load_profile("kandian")
