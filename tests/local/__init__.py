"""The local runner, the eager runner and the `kubecanvas` command line."""
