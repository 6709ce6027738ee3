"""The stacks of sre-platform: typed stack configuration and the wiring of one environment.

``stacks.project`` reads the project's files (stack names, ``Pulumi.<stack>.yaml`` within YAML
limits, folders inside the project); ``stacks.tags`` holds AWS's tag rules; ``stacks.config``
parses the Pulumi configuration (at the edge, once) into frozen models;
``stacks.environment`` wires the components of one environment; ``stacks.program`` is what
``__main__.py`` runs; ``stacks.render`` runs that same program under Pulumi's mock runtime.
"""
