"""The label and annotation keys hermetic owns, and the names of the objects it emits."""

from __future__ import annotations

DOMAIN = "hermetic.io"

TENANT = f"{DOMAIN}/tenant"  # on pods and on tenant namespaces
TIER = f"{DOMAIN}/tier"  # on pods: the requested tier, then the tier applied
COST_CENTER = f"{DOMAIN}/cost-center"
MANAGED_BY = "app.kubernetes.io/managed-by"  # on every object hermetic emits: "hermetic"
MANAGER = "hermetic"
POLICY = f"{DOMAIN}/policy"  # on emitted objects: the policy name

DIGEST = f"{DOMAIN}/bundle-digest"  # annotation on mutated pods
RULES = f"{DOMAIN}/rules"  # annotation: the rules that changed or checked the pod
SEED = f"{DOMAIN}/seed"  # annotation: the seed the backtest runs with
EXEMPT = f"{DOMAIN}/exempt"  # namespace label that takes a namespace out of the webhook

NS_NAME = "kubernetes.io/metadata.name"

# Never governed, whatever the policy says (the webhook's own namespace is added per policy).
SYSTEM_NAMESPACES = ("kube-node-lease", "kube-public", "kube-system")


def priority_class_name(tier: str) -> str:
    return f"hermetic-{tier}"
