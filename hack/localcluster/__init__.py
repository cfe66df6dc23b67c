"""kubecanvas' local single-node Kubernetes cluster: a real node on this host.

Standard library only (so `down` runs with any python3). One module per idea:

    settings   every path, port, address and name, in one place
    pki        the CA and the certificates of each component, kubeconfigs
    processes  start, find, stop and wait for the cluster's host processes
    hostnet    the pod bridge, sysctls and iptables: made by `up`, undone by `down`
    node       containerd, CNI, kubelet and kube-proxy configuration; what pods leave behind
    apiclient  a few API calls on loopback (health checks, applying manifests)
    addons     what runs in the cluster: CoreDNS, the storage class and its volumes
    components the processes of the cluster, in start order
    lifecycle  `up`, `down` and `status`
"""
