"""Dashboards as code: Grafana dashboard models built from the compiled SLOs, checked against a
Prometheus, deployed to AMG and rendered live by the lab."""
