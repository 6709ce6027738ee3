"""SLO reports: attainment, budget spent, burn-down and incidents over a period, as one
self-contained HTML file for the weekly reliability review."""
