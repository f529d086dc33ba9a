"""L4: every Service of type LoadBalancer becomes an Avi virtual service (reference §3.1, §3.5).

The public face of the L4 translation, for the sync layer: `l4_key` says whether a Service is
akod's and under which key its objects live, `translate_l4` turns the Services of one key (with
their endpoints and the nodes) into the objects to write and the problems to show. Both are pure;
the modules behind them split the work by responsibility: selection (`l4select`), names
(`l4names`), host names (`l4fqdn`), pool servers (`l4members`), bodies (`l4bodies`) and the checks
that decide what may be served (`l4translate`).
"""

from __future__ import annotations

from akod.model.l4context import L4Context, L4Result
from akod.model.l4select import l4_key
from akod.model.l4translate import translate_l4

__all__ = ["L4Context", "L4Result", "l4_key", "translate_l4"]
