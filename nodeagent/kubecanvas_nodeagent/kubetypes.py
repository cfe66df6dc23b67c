"""The slices of the Kubernetes JSON schema the node agent reads and writes.

TypedDicts rather than classes: objects arrive as parsed JSON and are sent back as JSON, and the
agent only touches a small part of each, so a typed view over plain dicts is all it needs.
Every TypedDict is ``total=False`` because the API server omits empty fields.
"""

from __future__ import annotations

from typing import Any, TypedDict

JsonObject = dict[str, Any]


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    resourceVersion: str
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]


# --- Pod spec ----------------------------------------------------------------------------------


class ObjectFieldSelector(TypedDict, total=False):
    fieldPath: str


class ResourceFieldSelector(TypedDict, total=False):
    containerName: str
    resource: str
    divisor: str | int


class KeySelector(TypedDict, total=False):
    name: str
    key: str
    optional: bool


class EnvVarSource(TypedDict, total=False):
    fieldRef: ObjectFieldSelector
    resourceFieldRef: ResourceFieldSelector
    configMapKeyRef: KeySelector
    secretKeyRef: KeySelector


class EnvVar(TypedDict, total=False):
    name: str
    value: str
    valueFrom: EnvVarSource


class NameRef(TypedDict, total=False):
    name: str
    optional: bool


class EnvFromSource(TypedDict, total=False):
    prefix: str
    configMapRef: NameRef
    secretRef: NameRef


class ContainerPort(TypedDict, total=False):
    name: str
    containerPort: int
    protocol: str


class ResourceRequirements(TypedDict, total=False):
    limits: dict[str, str | int]
    requests: dict[str, str | int]


class VolumeMount(TypedDict, total=False):
    name: str
    mountPath: str
    subPath: str
    readOnly: bool


class ExecAction(TypedDict, total=False):
    command: list[str]


class HTTPHeader(TypedDict, total=False):
    name: str
    value: str


class HTTPGetAction(TypedDict, total=False):
    path: str
    port: int | str
    host: str
    scheme: str
    httpHeaders: list[HTTPHeader]


class TCPSocketAction(TypedDict, total=False):
    port: int | str
    host: str


class Probe(TypedDict, total=False):
    exec: ExecAction
    httpGet: HTTPGetAction
    tcpSocket: TCPSocketAction
    grpc: JsonObject
    initialDelaySeconds: int
    periodSeconds: int
    timeoutSeconds: int
    successThreshold: int
    failureThreshold: int


class Container(TypedDict, total=False):
    name: str
    image: str
    command: list[str]
    args: list[str]
    workingDir: str
    env: list[EnvVar]
    envFrom: list[EnvFromSource]
    ports: list[ContainerPort]
    resources: ResourceRequirements
    volumeMounts: list[VolumeMount]
    readinessProbe: Probe
    livenessProbe: Probe
    startupProbe: Probe


class KeyToPath(TypedDict, total=False):
    key: str
    path: str
    mode: int


class ConfigMapVolumeSource(TypedDict, total=False):
    name: str
    items: list[KeyToPath]
    defaultMode: int
    optional: bool


class SecretVolumeSource(TypedDict, total=False):
    secretName: str
    items: list[KeyToPath]
    defaultMode: int
    optional: bool


class DownwardAPIVolumeFile(TypedDict, total=False):
    path: str
    fieldRef: ObjectFieldSelector
    resourceFieldRef: ResourceFieldSelector
    mode: int


class DownwardAPIVolumeSource(TypedDict, total=False):
    items: list[DownwardAPIVolumeFile]
    defaultMode: int


class ServiceAccountTokenProjection(TypedDict, total=False):
    audience: str
    expirationSeconds: int
    path: str


class DownwardAPIProjection(TypedDict, total=False):
    items: list[DownwardAPIVolumeFile]


class VolumeProjection(TypedDict, total=False):
    serviceAccountToken: ServiceAccountTokenProjection
    configMap: ConfigMapVolumeSource
    secret: ConfigMapVolumeSource  # a projected secret is named by `name`, like a ConfigMap
    downwardAPI: DownwardAPIProjection


class ProjectedVolumeSource(TypedDict, total=False):
    sources: list[VolumeProjection]
    defaultMode: int


class EmptyDirVolumeSource(TypedDict, total=False):
    medium: str
    sizeLimit: str


class HostPathVolumeSource(TypedDict, total=False):
    path: str
    type: str


class Volume(TypedDict, total=False):
    name: str
    emptyDir: EmptyDirVolumeSource
    configMap: ConfigMapVolumeSource
    secret: SecretVolumeSource
    projected: ProjectedVolumeSource
    downwardAPI: DownwardAPIVolumeSource
    hostPath: HostPathVolumeSource


class PodSchedulingGate(TypedDict, total=False):
    name: str


class PodSpec(TypedDict, total=False):
    containers: list[Container]
    initContainers: list[Container]
    restartPolicy: str
    nodeName: str
    nodeSelector: dict[str, str]
    schedulerName: str
    schedulingGates: list[PodSchedulingGate]
    serviceAccountName: str
    volumes: list[Volume]
    activeDeadlineSeconds: int
    terminationGracePeriodSeconds: int


# --- Pod status --------------------------------------------------------------------------------


class PodCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str
    lastProbeTime: str | None
    lastTransitionTime: str


class ContainerStateWaiting(TypedDict, total=False):
    reason: str
    message: str


class ContainerStateRunning(TypedDict, total=False):
    startedAt: str


class ContainerStateTerminated(TypedDict, total=False):
    exitCode: int
    signal: int
    reason: str
    message: str
    startedAt: str
    finishedAt: str
    containerID: str


class ContainerState(TypedDict, total=False):
    waiting: ContainerStateWaiting
    running: ContainerStateRunning
    terminated: ContainerStateTerminated


class ContainerStatus(TypedDict, total=False):
    name: str
    image: str
    imageID: str
    containerID: str
    ready: bool
    started: bool
    restartCount: int
    state: ContainerState
    lastState: ContainerState


class PodIP(TypedDict):
    ip: str


class PodStatus(TypedDict, total=False):
    phase: str
    reason: str
    message: str
    conditions: list[PodCondition]
    hostIP: str
    hostIPs: list[PodIP]
    podIP: str
    podIPs: list[PodIP]
    startTime: str
    containerStatuses: list[ContainerStatus]
    initContainerStatuses: list[ContainerStatus]


class Pod(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


# --- Other objects -----------------------------------------------------------------------------


class ConfigMap(TypedDict, total=False):
    metadata: ObjectMeta
    data: dict[str, str]
    binaryData: dict[str, str]


class Secret(TypedDict, total=False):
    metadata: ObjectMeta
    data: dict[str, str]


class WatchEvent(TypedDict):
    type: str
    object: JsonObject
