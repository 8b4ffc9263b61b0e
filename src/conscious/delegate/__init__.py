"""Delegates: agents as processes, run by the dispatcher; every outcome comes back as an observation."""
