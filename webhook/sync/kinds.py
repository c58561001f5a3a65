"""The kinds `hermetic sync` manages, their REST paths, and the key of one object.

The registry is closed on purpose: the ClusterRole in `deploy/base/rbac.yaml` grants exactly
these resources (a test keeps the two equal), so an object of any other kind could not be
written anyway. The compiler's per-namespace objects are all here; a kind the compiler
starts emitting must be added here and to the ClusterRole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from compiler.labels import MANAGED_BY, MANAGER

Obj = dict[str, Any]
SELECTOR: Final = f"{MANAGED_BY}={MANAGER}"  # every object hermetic emits carries it


@dataclass(frozen=True, slots=True, order=True)
class Kind:
    """A namespaced kind: `apiVersion`, `kind` and the plural resource name in its path."""

    api_version: str
    kind: str
    plural: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def crd(self) -> bool:
        """Whether the kind comes from a CustomResourceDefinition that may be missing."""
        return self.group not in ("", "networking.k8s.io")

    def base(self) -> str:
        """`/api/v1` for the core group, else `/apis/GROUP/VERSION`."""
        return f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"

    def collection(self, namespace: str | None = None) -> str:
        """The path listing this kind in one namespace, or in all namespaces."""
        if namespace is None:
            return f"{self.base()}/{self.plural}"
        return f"{self.base()}/namespaces/{namespace}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        """The path of one object."""
        return f"{self.collection(namespace)}/{name}"

    def __str__(self) -> str:
        return f"{self.kind}.{self.api_version}"


NETWORK_POLICY: Final = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
MANAGED_KINDS: Final[tuple[Kind, ...]] = (
    NETWORK_POLICY,
    Kind("v1", "ResourceQuota", "resourcequotas"),
    Kind("v1", "LimitRange", "limitranges"),
    Kind("security.istio.io/v1", "PeerAuthentication", "peerauthentications"),
    Kind("security.istio.io/v1", "AuthorizationPolicy", "authorizationpolicies"),
    Kind("policy.linkerd.io/v1beta3", "Server", "servers"),
    Kind("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "authorizationpolicies"),
    Kind("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication", "meshtlsauthentications"),
    Kind("policy.linkerd.io/v1alpha1", "NetworkAuthentication", "networkauthentications"),
)
_BY_TYPE: Final = {(k.api_version, k.kind): k for k in MANAGED_KINDS}

NAMESPACES: Final = "/api/v1/namespaces"
WEBHOOK_CONFIGURATIONS: Final = {
    "MutatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "ValidatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
}


def kind_of(obj: Obj) -> Kind | None:
    """The managed kind of an object, None when hermetic sync does not manage its kind."""
    return _BY_TYPE.get((str(obj.get("apiVersion", "")), str(obj.get("kind", ""))))


@dataclass(frozen=True, slots=True, order=True)
class Key:
    """Which object: kind, namespace and name (ordered for stable plans and logs)."""

    kind: Kind
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.kind}/{self.namespace}/{self.name}"


def key_of(obj: Obj, kind: Kind) -> Key:
    """The key of an object of a known kind."""
    meta = obj.get("metadata") or {}
    return Key(kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
