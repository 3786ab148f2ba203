"""lamina.gradient: reverse-mode autodiff as a graph transform on UOps, driven by a table of per-op rules."""

from lamina.gradient.backward import compute_gradient
from lamina.gradient.rules import GradientRule, gradient_rules

__all__ = ["GradientRule", "compute_gradient", "gradient_rules"]
