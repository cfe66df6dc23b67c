"""Small generic helpers with no knowledge of canvases, Kubernetes or Redis."""
