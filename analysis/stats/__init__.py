"""Stage 6 statistics: significance tests, effect sizes with bootstrap CIs, and the decision rule."""
