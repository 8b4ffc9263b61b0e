"""``conscious eval``: how well a model makes this daemon's decisions, measured on scenarios."""
