"""The kubecanvas operator: reconciles Workflows into Jobs (kopf)."""
