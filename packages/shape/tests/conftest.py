"""Hypothesis settings for the shape tests: no per-example deadline, since the suite shares two busy cores."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("lamina-shape", deadline=None)
settings.load_profile("lamina-shape")
