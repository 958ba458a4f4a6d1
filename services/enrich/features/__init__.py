"""Stateful enrichment features as pure functions over plain records and JSON-shaped state.

One module per concern — :mod:`.virality` (posts and share cascades), :mod:`.conversion` (follower
funnel), :mod:`.conversation` (response time, backlog, fan loss) — and :mod:`.engine`, which routes a
batch of events to them with per-key exactly-once updates (:mod:`services.common.keyed_state`).
"""
