"""Scripted, repeatable experiments on a running network (``sdqkd scenario ...``): each changes the
network as its users would — the plant behind the controller's back, applications consuming key —
samples what the network does meanwhile, and writes a report (Markdown, JSON, plots) with the checks
it makes of itself.

- :mod:`~sdqkd.scenarios.coexistence`: quantum and classical channels in one fibre under the controller;
- :mod:`~sdqkd.scenarios.switching`: one transmitter shared by several receivers through a switch;
- :mod:`~sdqkd.scenarios.network`, :mod:`~sdqkd.scenarios.sampler`, :mod:`~sdqkd.scenarios.report`,
  :mod:`~sdqkd.scenarios.plots`: what both use.

They sit above :mod:`sdqkd.runtime` (they start a network when none runs) and below the command line.
"""
