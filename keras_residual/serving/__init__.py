"""Serving tools around an exported model: the batching tuner and the TF Serving config writer.

Each tool is its own module, imported on use (``keras_residual.serving.batching``,
``keras_residual.serving.serving_config``); this package imports nothing heavy, so the CLI's
``--help`` stays fast. These tools sit one floor above ``keras_residual.export``: they read exports,
exporters never import them.
"""
