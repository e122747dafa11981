"""Conversions between API versions (and between groups sharing storage).

Each module holds pure functions from one version's JSON dict to another's,
mirroring upstream's hand-written conversions. The apiserver calls them when
a resource is served in one version but stored in another.
"""
