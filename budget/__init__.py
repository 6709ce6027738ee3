"""Error budgets that steer releases: the policy, Prometheus/AMP reads, status and the gate."""
