"""lamina.rewrite: pattern matching, fixed-point graph rewriting, and the symbolic simplifier.

`UPat` patterns and `PatternMatcher` rule tables describe passes; `graph_rewrite` runs one over a
graph bottom-up to a fixed point. `pm_symbolic`/`simplify` fold integer index expressions under C
semantics, using the range analysis `vmin`/`vmax`; `evaluate_int` is the exact reference for them.
"""

from lamina.rewrite.bounds import vmax, vmin
from lamina.rewrite.engine import GraphRewriter, RewriteLoopError, graph_rewrite, graph_rewrite_many
from lamina.rewrite.int_semantics import evaluate_int
from lamina.rewrite.matcher import PatternMatcher
from lamina.rewrite.symbolic import pm_symbolic, simplifier, simplify
from lamina.rewrite.upat import UPat
from lamina.rewrite.validity import loop_bounds_under, simplify_under

__all__ = [
    "GraphRewriter",
    "PatternMatcher",
    "RewriteLoopError",
    "UPat",
    "evaluate_int",
    "graph_rewrite",
    "graph_rewrite_many",
    "loop_bounds_under",
    "pm_symbolic",
    "simplifier",
    "simplify",
    "simplify_under",
    "vmax",
    "vmin",
]
