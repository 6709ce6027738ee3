"""The local lab: the platform's SLO monitoring running for real on one machine.

`sre lab up` starts, on loopback, the demo exchange service (replicas under a supervisor),
node_exporter, Prometheus with the compiled SLO rules, Alertmanager with the platform's routing
tree, a local notification receiver and a load generator. See docs/game-day.md.
"""
