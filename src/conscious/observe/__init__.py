"""Observers: the world (files, test reports, processes, the clock) becomes observations."""
