"""Schedules in env steps: a callback acts when the env-step count passes a multiple of its interval."""


def crossed_multiple(previous: int, now: int, every: int) -> bool:
    """Whether a multiple of `every` lies in (previous, now]: with rollouts of any length, the first rollout boundary
    at or past each multiple (every=10,000: at 10,240 after 9,984, then at 20,224, ...)."""
    return now // every > previous // every
