"""Helpers shared by kubecanvas' tests: the local cluster, waiting on conditions, manifests."""
