"""Planning a quantum-classical network: link budgets (loss, Raman noise, key rate) of a
topology's QKD links, their co-propagation margins, and plots.

Sits above ``physics`` and ``topology`` and below the services: ``sdqkd plan`` uses it today; the
emulator and the controller compute their live link figures with the same functions.
"""

from __future__ import annotations

from sdqkd.planning.budget import ClassicalLoad, LinkBudget, key_rate_for, link_budget
from sdqkd.planning.margins import Margins, co_propagation_margins
from sdqkd.planning.plan import DEFAULT_TARGET_RATE_BPS, LinkPlan, Plan, plan_topology

__all__ = [
    "DEFAULT_TARGET_RATE_BPS",
    "ClassicalLoad",
    "LinkBudget",
    "LinkPlan",
    "Margins",
    "Plan",
    "co_propagation_margins",
    "key_rate_for",
    "link_budget",
    "plan_topology",
]
