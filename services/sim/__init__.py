"""Development tools: the traffic simulator with its ground truth, and the demo scenario.

They feed the pipeline in tests, benchmarks and `make run`; the runtime wheel leaves this package out.
"""
