"""The cluster client: submit Workflows and read their state (Kubernetes API and Redis)."""
