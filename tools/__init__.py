"""Tools run from a checkout of the repository (not installed with the package).

:mod:`tools.killtest` is a fault-injection test of the journal of :class:`mobo.Study`.
"""
