"""Rollout: routing strategies, the progressive delivery controller and A/B statistics."""
