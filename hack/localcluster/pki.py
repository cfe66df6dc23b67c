"""The cluster's PKI and kubeconfigs, made once with the openssl command and then reused.

Every certificate is signed by pki/ca.crt but the aggregation layer's: the API server
proves to an aggregated API server (the operator's results API) that it vouches for the
user named in X-Remote-User with a client certificate of a CA of its own,
pki/front-proxy-ca.crt, as kubeadm sets it up, so that no other client certificate of the
cluster can claim a user there. A change of the certificates' subjects or names
(a new node address, say) makes the whole set again, so no component keeps a stale one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .processes import ClusterError, say
from .settings import APISERVER_URL, CLUSTER_DOMAIN, KUBECONFIG, NODE_IP, NODE_NAME, PKI, SERVICE_IP, STATE

# CA name -> subject
AUTHORITIES = {"ca": "/CN=kubecanvas-ca", "front-proxy-ca": "/CN=kubecanvas-front-proxy-ca"}
FRONT_PROXY_CLIENT = "front-proxy-client"
"""The aggregation layer's client certificate's name (`--requestheader-allowed-names`)."""
# name -> (subject, SANs, usage); signed by pki/ca.crt but where SIGNED_BY says otherwise
CERTIFICATES: dict[str, tuple[str, str, str]] = {
    "apiserver": (
        "/CN=kube-apiserver",
        f"IP:{NODE_IP},IP:127.0.0.1,IP:{SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        f"DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.{CLUSTER_DOMAIN}",
        "serverAuth",
    ),
    "admin": ("/O=system:masters/CN=kubecanvas-admin", "", "clientAuth"),
    "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", "", "clientAuth"),
    "kube-controller-manager": ("/CN=system:kube-controller-manager", "", "clientAuth"),
    "kube-controller-manager-serving": (
        "/CN=kube-controller-manager",
        "IP:127.0.0.1,DNS:localhost",
        "serverAuth",
    ),
    "kube-scheduler": ("/CN=system:kube-scheduler", "", "clientAuth"),
    "kube-scheduler-serving": ("/CN=kube-scheduler", "IP:127.0.0.1,DNS:localhost", "serverAuth"),
    "kube-proxy": ("/CN=system:kube-proxy", "", "clientAuth"),
    # The Node authorizer knows a kubelet by this group and name.
    "kubelet": (f"/O=system:nodes/CN=system:node:{NODE_NAME}", "", "clientAuth"),
    "kubelet-serving": (
        f"/CN={NODE_NAME}",
        f"IP:{NODE_IP},IP:127.0.0.1,DNS:localhost,DNS:{NODE_NAME}",
        "serverAuth",
    ),
    FRONT_PROXY_CLIENT: (f"/CN={FRONT_PROXY_CLIENT}", "", "clientAuth"),
}
SIGNED_BY = {FRONT_PROXY_CLIENT: "front-proxy-ca"}
# Components that talk to the API server, each with a kubeconfig of its own.
KUBECONFIG_USERS = ("admin", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet")


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _new_key(path: Path, algorithm: str = "EC") -> None:
    options = (
        ["-pkeyopt", "ec_paramgen_curve:P-256"] if algorithm == "EC" else ["-pkeyopt", "rsa_keygen_bits:2048"]
    )
    _openssl("genpkey", "-algorithm", algorithm, *options, "-out", str(path))
    path.chmod(0o600)


def ensure_pki() -> None:
    """Create the CA, the certificates and the service-account keys once; later runs reuse them."""
    wanted = (
        ["sa.key", "sa.pub"]
        + [f"{n}.{e}" for n in AUTHORITIES for e in ("crt", "key")]
        + [f"{n}.{e}" for n in CERTIFICATES for e in ("crt", "key")]
    )
    spec = json.dumps([AUTHORITIES, CERTIFICATES, SIGNED_BY], sort_keys=True)
    stamp = PKI / "spec.json"
    if all((PKI / name).exists() for name in wanted) and stamp.exists() and stamp.read_text() == spec:
        return
    if shutil.which("openssl") is None:
        raise ClusterError("openssl not found: install the Debian package openssl (hack/install-deps.sh)")
    say("generating the cluster PKI in .cluster/pki")
    scratch = Path(tempfile.mkdtemp(prefix="pki.", dir=STATE))
    try:
        for authority, subject in AUTHORITIES.items():
            _new_key(scratch / f"{authority}.key")
            _openssl(
                "req", "-x509", "-new", "-key", str(scratch / f"{authority}.key"), "-subj", subject,
                "-days", "3650", "-out", str(scratch / f"{authority}.crt"),
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            )  # fmt: skip
        for name, (subject, sans, usage) in CERTIFICATES.items():
            authority = SIGNED_BY.get(name, "ca")
            key, csr, crt, ext = (scratch / f"{name}.{e}" for e in ("key", "csr", "crt", "ext"))
            _new_key(key)
            _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
            extensions = [
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                f"extendedKeyUsage={usage}",
            ]
            if sans:
                extensions.append(f"subjectAltName={sans}")
            ext.write_text("\n".join(extensions) + "\n")
            _openssl(
                "x509", "-req", "-in", str(csr),
                "-CA", str(scratch / f"{authority}.crt"), "-CAkey", str(scratch / f"{authority}.key"),
                "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "3650",
                "-extfile", str(ext), "-out", str(crt),
            )  # fmt: skip
            csr.unlink()
            ext.unlink()
        (scratch / "spec.json").write_text(spec)
        _new_key(scratch / "sa.key", "RSA")
        _openssl("pkey", "-in", str(scratch / "sa.key"), "-pubout", "-out", str(scratch / "sa.pub"))
        shutil.rmtree(PKI, ignore_errors=True)
        scratch.rename(PKI)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def kubeconfig_path(user: str) -> Path:
    return KUBECONFIG if user == "admin" else STATE / f"{user}.kubeconfig"


def write_kubeconfigs() -> None:
    for user in KUBECONFIG_USERS:
        path = kubeconfig_path(user)
        path.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: kubecanvas
  cluster:
    server: {APISERVER_URL}
    certificate-authority: {PKI / "ca.crt"}
contexts:
- name: kubecanvas
  context:
    cluster: kubecanvas
    user: {user}
    namespace: default
current-context: kubecanvas
users:
- name: {user}
  user:
    client-certificate: {PKI / f"{user}.crt"}
    client-key: {PKI / f"{user}.key"}
"""
        )
        path.chmod(0o600)
