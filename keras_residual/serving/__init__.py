"""Serving tools around an exported model: the batching tuner, the TF Serving config writer, and
the Kubernetes / KServe manifests that run an export on a cluster.

Each tool is its own module, imported on use (``keras_residual.serving.batching``,
``keras_residual.serving.serving_config``, ``keras_residual.serving.kubernetes``,
``keras_residual.serving.kserve``); this package imports nothing heavy, so the CLI's
``--help`` stays fast. These tools sit one floor above ``keras_residual.export``: they read exports,
exporters never import them.
"""
