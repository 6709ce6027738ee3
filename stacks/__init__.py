"""The stacks of sre-platform: typed stack configuration and the wiring of one environment.

``stacks.config`` parses the Pulumi configuration (at the edge, once) into frozen models;
``stacks.environment`` wires the components of one environment; ``stacks.program`` is what
``__main__.py`` runs; ``stacks.render`` runs that same program under Pulumi's mock runtime.
"""
