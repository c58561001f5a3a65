"""From the raw tree to the typed one: what every statement's arguments mean.

Each statement has a usage line and a small reader over its arguments. A statement whose
arguments do not fit gets one diagnostic, pointed at the first argument that does not fit,
with the usage as the hint; the other statements are still read, so one run reports all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from dsl import ast
from dsl.diagnostics import Diagnostic, Span, did_you_mean, error
from dsl.loader import Source
from dsl.parser import RawArg, RawBlock, RawFile, RawStatement, parse_text

_new = tuple.__new__  # builds a NamedTuple node without its keyword-argument constructor


class _Misfit(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Args:
    """A cursor over one statement's arguments.

    The readers below run for every argument of every statement, so the common case (the
    argument fits) is handled first with few lookups; the error paths are as written.
    """

    __slots__ = ("end_span", "i", "items", "keyword", "usage")

    def __init__(self, stmt: RawStatement | RawBlock, usage: str, args: Sequence[RawArg]) -> None:
        self.keyword = stmt.keyword if isinstance(stmt, RawStatement) else stmt.kind
        self.end_span = stmt.span
        self.usage = usage
        self.items = args
        self.i = 0

    # -- errors
    def misfit(self, message: str, span: Span | None = None) -> _Misfit:
        where = span or self._here()
        return _Misfit(error("E016", message, where, f"usage: {self.usage}"))

    def _here(self) -> Span:
        if self.i < len(self.items):
            return self.items[self.i].span
        s = self.end_span
        return Span.point(s.path, s.end_line, s.end_column)

    def _describe(self) -> str:
        if self.i >= len(self.items):
            return "the end of the line"
        a = self.items[self.i]
        return {"comma": "','", "eq": "'='"}.get(a.kind, f"'{a.text}'")

    # -- reading
    def peek_word(self) -> str | None:
        if self.i < len(self.items) and self.items[self.i].kind == "word":
            return self.items[self.i].text
        return None

    def at_end(self) -> bool:
        return self.i >= len(self.items)

    def value(self, what: str) -> ast.Value:
        i = self.i
        if i < len(self.items):
            kind, text, path, line, column, end_column = self.items[i]
            if kind == "word" or kind == "string":
                self.i = i + 1
                return _new(ast.Value, (text, path, line, column, end_column, kind == "string"))
        raise self.misfit(f"`{self.keyword}` expects {what}, found {self._describe()}")

    def choice(self, what: str, options: Sequence[str]) -> ast.Value:
        found = self.maybe(*options)
        if found is not None:
            return found
        i = self.i
        v = self.value(what)
        if v.text not in options or v.quoted:
            self.i = i
            hint = did_you_mean(v.text, options)
            listed = ", ".join(f"'{o}'" for o in options)
            raise _Misfit(
                error(
                    "E032",
                    f"`{self.keyword}` expects {what} ({listed}), found '{v.text}'",
                    v.span,
                    hint or f"usage: {self.usage}",
                )
            )
        return v

    def maybe(self, *words: str) -> ast.Value | None:
        i = self.i
        if i < len(self.items):
            kind, text, path, line, column, end_column = self.items[i]
            if kind == "word" and text in words:
                self.i = i + 1
                return _new(ast.Value, (text, path, line, column, end_column, False))
        return None

    def expect(self, word: str) -> ast.Value:
        v = self.maybe(word)
        if v is None:
            raise self.misfit(f"`{self.keyword}` expects '{word}' here, found {self._describe()}")
        return v

    def comma(self) -> bool:
        if self.i < len(self.items) and self.items[self.i].kind == "comma":
            self.i += 1
            return True
        return False

    def eq(self) -> bool:
        if self.i < len(self.items) and self.items[self.i].kind == "eq":
            self.i += 1
            return True
        return False

    def values(self, what: str) -> tuple[ast.Value, ...]:
        out = [self.value(what)]
        while self.comma():
            out.append(self.value(what))
        return tuple(out)

    def end(self) -> None:
        if not self.at_end():
            raise self.misfit(f"`{self.keyword}` does not take {self._describe()} here")

    def span_from(self, first: ast.Value) -> Span:
        """From `first` to the end of the last argument read."""
        return _cover(first, self.items[self.i - 1] if self.i > 0 else first)

    # -- shapes shared by several statements
    def range(self, what: str) -> ast.Range:
        v = self.value(what)
        if ".." not in v.text:
            return ast.Range(low=v, high=v, span=v.span)
        lo, _, hi = v.text.partition("..")
        s = v.span
        low = ast.Value.at(lo, _sub(s, 0, len(lo))) if lo else None
        high = ast.Value.at(hi, _sub(s, len(lo) + 2, len(v.text))) if hi else None
        if low is None and high is None:
            raise self.misfit(f"`{self.keyword}` expects {what}, found '..'", v.span)
        if ".." in hi:
            raise self.misfit(f"a range has one '..', found '{v.text}'", v.span)
        return ast.Range(low=low, high=high, span=v.span)

    def selector(self, what: str = "a label requirement") -> ast.Selector:
        key = self.value(f"{what} (key = value, key in a, b, key exists)")
        if self.eq():
            val = self.value("a label value after '='")
            return ast.Selector(key=key, op="=", values=(val,), span=_cover(key, val))
        op = self.maybe("in", "not-in", "exists", "not-exists")
        if op is None:
            raise self.misfit(
                f"`{self.keyword}` expects '=', 'in', 'not-in', 'exists' or 'not-exists' after "
                f"'{key.text}', found {self._describe()}"
            )
        if op.text in ("exists", "not-exists"):
            ex: Literal["exists", "not-exists"] = "exists" if op.text == "exists" else "not-exists"
            return ast.Selector(key=key, op=ex, values=(), span=_cover(key, op))
        vals = self.values("a label value")
        member: Literal["in", "not-in"] = "in" if op.text == "in" else "not-in"
        return ast.Selector(key=key, op=member, values=vals, span=_cover(key, vals[-1]))

    def selectors(self) -> tuple[ast.Selector, ...]:
        out = [self.selector()]
        while self.comma():
            out.append(self.selector())
        return tuple(out)

    def directional(self, what: str) -> tuple[ast.Value | None, ast.Value | None]:
        ingress = egress = None
        seen = False
        while (d := self.maybe("ingress", "egress")) is not None:
            seen = True
            if d.text == "ingress":
                if ingress is not None:
                    raise self.misfit("'ingress' given twice", d.span)
                ingress = self.value(what)
            else:
                if egress is not None:
                    raise self.misfit("'egress' given twice", d.span)
                egress = self.value(what)
        if not seen:
            raise self.misfit(
                f"`{self.keyword}` expects 'ingress' and/or 'egress', found {self._describe()}"
            )
        return ingress, egress


def _cover(first: ast.Value, last: ast.Value | RawArg) -> Span:
    """From the start of `first` to the end of `last` (`Span.cover` of their spans)."""
    return _new(Span, (first.path, first.line, first.column, last.line, last.end_column))


def _sub(s: Span, start: int, end: int) -> Span:
    return Span(
        path=s.path,
        line=s.line,
        column=s.column + start,
        end_line=s.line,
        end_column=s.column + max(end, start + 1),
    )


# --- statement readers ------------------------------------------------------------------

Reader = Callable[[Args, Span], ast.Statement]


def _governs(a: Args, s: Span) -> ast.Statement:
    return ast.Governs(selectors=a.selectors(), span=s)


def _exclude(a: Args, s: Span) -> ast.Statement:
    a.expect("namespaces")
    return ast.ExcludeNamespaces(names=a.values("a namespace name"), span=s)


def _cni(a: Args, s: Span) -> ast.Statement:
    kind = a.choice("a CNI", ("calico", "cilium", "bandwidth-plugin", "none"))
    version = a.value("a Calico version, e.g. 3.31") if a.maybe("version") else None
    return ast.Cni(kind=kind, version=version, span=s)


def _mesh_cni(a: Args, s: Span) -> ast.Statement:
    out = [a.choice("a mesh", ("istio", "linkerd"))]
    while a.comma():
        out.append(a.choice("a mesh", ("istio", "linkerd")))
    return ast.MeshCni(meshes=tuple(out), span=s)


def _webhook(a: Args, s: Span) -> ast.Statement:
    a.expect("service")
    service = a.value("the webhook's Service name")
    a.expect("namespace")
    namespace = a.value("the webhook's namespace")
    port = a.value("a port") if a.maybe("port") else None
    return ast.WebhookService(namespace=namespace, service=service, port=port, span=s)


def _failure(a: Args, s: Span) -> ast.Statement:
    return ast.FailurePolicy(value=a.choice("a failure policy", ("fail", "ignore")), span=s)


def _timeout(a: Args, s: Span) -> ast.Statement:
    return ast.Timeout(value=a.value("a timeout in seconds, e.g. 3s"), span=s)


def _cpu(a: Args, s: Span) -> ast.Statement:
    if a.maybe("exclusive"):
        return ast.Cpu(range=None, default=None, exclusive=a.value("a number of cores"), span=s)
    rng = a.range("a CPU range like 500m..4, or 'exclusive N'")
    default = a.value("a default CPU quantity") if a.maybe("default") else None
    return ast.Cpu(range=rng, default=default, exclusive=None, span=s)


def _amount(resource: str) -> Reader:
    def read(a: Args, s: Span) -> ast.Statement:
        rng = a.range(f"a {resource} range like 1Gi..16Gi, or one quantity")
        default = a.value(f"a default {resource} quantity") if a.maybe("default") else None
        assert resource in ("memory", "ephemeral-storage")
        return ast.Amount(resource=resource, range=rng, default=default, span=s)  # type: ignore[arg-type]

    return read


def _swap(a: Args, s: Span) -> ast.Statement:
    return ast.Swap(enabled=a.choice("'on' or 'off'", ("on", "off")).text == "on", span=s)


def _scratch(a: Args, s: Span) -> ast.Statement:
    path = a.value("a directory path, e.g. /tmp")
    size = a.value("a size, e.g. 1Gi")
    medium = a.choice("a medium", ("disk", "memory")) if not a.at_end() else None
    return ast.Scratch(path=path, size=size, medium=medium, span=s)


def _shaping(what: str) -> Reader:
    unit = {
        "bandwidth": "a bit rate, e.g. 200M",
        "burst": "a burst size in bits, e.g. 64M",
        "packet-rate": "packets per second, e.g. 10k",
        "max-connections": "a number of connections",
    }[what]

    def read(a: Args, s: Span) -> ast.Statement:
        ingress, egress = a.directional(unit)
        return ast.Shaping(what=what, ingress=ingress, egress=egress, span=s)  # type: ignore[arg-type]

    return read


def _excess(a: Args, s: Span) -> ast.Statement:
    return ast.BandwidthExcess(action=a.choice("an action", ("lower", "deny")), span=s)


def _threads(a: Args, s: Span) -> ast.Statement:
    return ast.Threads(mode=a.choice("a thread policy", ("match-cpu", "unset")), span=s)


def _seed(a: Args, s: Span) -> ast.Statement:
    mode = a.choice("a seed policy", ("required", "inject", "off"))
    env = a.value("an environment variable name") if a.maybe("env") else None
    return ast.Seed(mode=mode, env=env, span=s)


def _images(a: Args, s: Span) -> ast.Statement:
    return ast.Images(mode=a.choice("an image policy", ("pinned", "any")), span=s)


def _env(a: Args, s: Span) -> ast.Statement:
    name = a.value("an environment variable name")
    if not a.eq():
        raise a.misfit(f"`env` expects '=' after '{name.text}'")
    return ast.Env(name=name, value=a.value("a value"), span=s)


def _profile(a: Args, s: Span) -> ast.Statement:
    return ast.UseProfile(name=a.value("a profile name"), span=s)


def _priority(a: Args, s: Span) -> ast.Statement:
    value = a.value("a priority value")
    pre = a.maybe("preempting", "non-preempting")
    if pre is not None:
        pre = ast.Value.at(pre.text if pre.text else "", pre.span)
    pble = a.maybe("preemptible", "non-preemptible")
    return ast.Priority(value=value, preempting=pre, preemptible=pble, span=s)


def _security(a: Args, s: Span) -> ast.Statement:
    levels = ("baseline", "restricted", "strict")
    return ast.Security(level=a.choice("a security level", levels), span=s)


def _mtls(a: Args, s: Span) -> ast.Statement:
    mesh = a.choice("a mesh", ("none", "istio-sidecar", "istio-ambient", "linkerd"))
    mode = None if mesh.text == "none" else a.choice("a mode", ("strict", "permissive"))
    return ast.Mtls(mesh=mesh, mode=mode, span=s)


def _runtime_class(a: Args, s: Span) -> ast.Statement:
    return ast.RuntimeClass(name=a.value("a RuntimeClass name"), span=s)


def _node_rule(required: bool) -> Reader:
    def read(a: Args, s: Span) -> ast.Statement:
        sel = a.selector("a node label requirement")
        weight = None if required else a.value("a weight 1-100") if a.maybe("weight") else None
        return ast.NodeRule(required=required, selector=sel, weight=weight, span=s)

    return read


def _tolerate(a: Args, s: Span) -> ast.Statement:
    sel = a.selector("a taint (key = value, or key exists)")
    if sel.op not in ("=", "exists"):
        raise a.misfit("a toleration matches a taint by `key = value` or `key exists`", sel.span)
    effects = ("NoSchedule", "PreferNoSchedule", "NoExecute")
    effect = a.choice("a taint effect", effects) if a.maybe("effect") else None
    return ast.Tolerate(selector=sel, effect=effect, span=s)


def _spread(kind: Literal["spread", "anti-affinity"]) -> Reader:
    def read(a: Args, s: Span) -> ast.Statement:
        a.expect("by")
        label = a.value("a pod label key, e.g. strategy.example.com/family")
        a.expect("across")
        topology = a.value("a node label key, e.g. kubernetes.io/hostname")
        skew = None
        if kind == "spread" and a.maybe("max-skew"):
            skew = a.value("a number >= 1")
        hardness = a.maybe("hard", "soft")
        hard = hardness is None or hardness.text == "hard"
        return ast.Spread(
            kind=kind, label=label, topology=topology, max_skew=skew, hard=hard, span=s
        )

    return read


def _block_io(a: Args, s: Span) -> ast.Statement:
    return ast.BlockIo(klass=a.value("a block-I/O class name"), span=s)


def _proxy(a: Args, s: Span) -> ast.Statement:
    a.expect("cpu")
    cpu = a.value("a CPU quantity")
    a.expect("memory")
    return ast.ProxyResources(cpu=cpu, memory=a.value("a memory quantity"), span=s)


def _namespaces(a: Args, s: Span) -> ast.Statement:
    return ast.Namespaces(names=a.values("a namespace name or glob"), span=s)


def _tiers(a: Args, s: Span) -> ast.Statement:
    return ast.Tiers(names=a.values("a tier name"), span=s)


def _default_tier(a: Args, s: Span) -> ast.Statement:
    return ast.DefaultTier(name=a.value("a tier name"), span=s)


QUOTA_RESOURCES = ("cpu", "memory", "pods", "ephemeral-storage")


def _quota(a: Args, s: Span) -> ast.Statement:
    tier = a.value("a tier name") if a.maybe("tier") else None
    items = []
    while not a.at_end():
        res = a.choice("a quota resource", QUOTA_RESOURCES)
        amount = a.value(f"an amount of {res.text}")
        items.append(ast.QuotaItem(resource=res, amount=amount, span=_cover(res, amount)))
    if not items:
        raise a.misfit("`quota` expects at least one resource and amount")
    return ast.Quota(tier=tier, items=tuple(items), span=s)


def _cost_center(a: Args, s: Span) -> ast.Statement:
    return ast.CostCenter(value=a.value("a cost-center code"), span=s)


def _label(a: Args, s: Span) -> ast.Statement:
    key = a.value("a label key")
    if not a.eq():
        raise a.misfit(f"`label` expects '=' after '{key.text}'")
    return ast.Label(key=key, value=a.value("a label value"), span=s)


def _ports(a: Args) -> tuple[ast.PortSpec, ...]:
    out = []
    while True:
        proto = a.choice("a protocol", ("tcp", "udp", "sctp"))
        port = a.value("a port or a range like 9000-9010")
        end = None
        if "-" in port.text and not port.quoted:
            lo, _, hi = port.text.partition("-")
            s = port.span
            end = ast.Value.at(hi, _sub(s, len(lo) + 1, len(port.text)))
            port = ast.Value.at(lo, _sub(s, 0, len(lo)))
        out.append(ast.PortSpec(protocol=proto, port=port, end_port=end, span=a.span_from(proto)))
        if not a.comma():
            return tuple(out)


def _allow(a: Args, s: Span) -> ast.Statement:
    direction = a.choice("a direction", ("ingress", "egress")).text
    peers = ("dns", "tenant", "namespace", "pods", "cidr")
    peer_value = a.choice("a peer", peers)
    peer = peer_value.text
    names: tuple[ast.Value, ...] = ()
    pods: tuple[ast.Selector, ...] = ()
    excepts: tuple[ast.Value, ...] = ()
    if peer == "dns" and direction == "ingress":
        raise a.misfit(
            "`allow ingress dns` has no meaning: DNS is an egress destination", peer_value.span
        )
    if peer in ("tenant", "namespace"):
        names = a.values(f"a {peer} name")
        if peer == "namespace" and a.maybe("pods"):
            pods = a.selectors()
    elif peer == "pods":
        pods = a.selectors()
    elif peer == "cidr":
        names = a.values("a CIDR, e.g. 10.20.0.0/16")
        if a.maybe("except"):
            excepts = a.values("a CIDR to leave out")
    ports = _ports(a) if a.maybe("ports", "port") else ()
    identities: tuple[ast.Value, ...] = ()
    if a.maybe("as"):
        identities = a.values("a service account name")
    return ast.Allow(
        direction=direction,  # type: ignore[arg-type]
        peer=peer,  # type: ignore[arg-type]
        names=names,
        pods=pods,
        excepts=excepts,
        ports=ports,
        identities=identities,
        span=s,
    )


@dataclass(frozen=True, slots=True)
class Spec:
    usage: str
    read: Reader


_RESOURCES = {
    "cpu": Spec("cpu MIN..MAX [default Q] | cpu Q | cpu exclusive N", _cpu),
    "memory": Spec("memory MIN..MAX [default Q] | memory Q", _amount("memory")),
    "ephemeral-storage": Spec(
        "ephemeral-storage MIN..MAX [default Q] | ephemeral-storage Q", _amount("ephemeral-storage")
    ),
    "swap": Spec("swap on|off", _swap),
    "scratch": Spec("scratch PATH SIZE [disk|memory]", _scratch),
    "bandwidth": Spec("bandwidth [ingress RATE] [egress RATE]", _shaping("bandwidth")),
    "burst": Spec("burst [ingress BITS] [egress BITS]", _shaping("burst")),
    "packet-rate": Spec("packet-rate [ingress PPS] [egress PPS]", _shaping("packet-rate")),
    "max-connections": Spec("max-connections [ingress N] [egress N]", _shaping("max-connections")),
    "bandwidth-excess": Spec("bandwidth-excess lower|deny", _excess),
    "threads": Spec("threads match-cpu|unset", _threads),
    "seed": Spec("seed required|inject|off [env NAME]", _seed),
    "images": Spec("images pinned|any", _images),
    "env": Spec('env NAME = "value"', _env),
}

_TIER_ONLY = {
    "profile": Spec("profile NAME", _profile),
    "priority": Spec(
        "priority VALUE [preempting|non-preempting] [preemptible|non-preemptible]", _priority
    ),
    "security": Spec("security baseline|restricted|strict", _security),
    "mtls": Spec("mtls none | mtls istio-sidecar|istio-ambient|linkerd strict|permissive", _mtls),
    "runtime-class": Spec("runtime-class NAME", _runtime_class),
    "require-node": Spec("require-node KEY = VALUE | KEY in A, B | KEY exists", _node_rule(True)),
    "prefer-node": Spec("prefer-node KEY = VALUE [weight 1-100]", _node_rule(False)),
    "tolerate": Spec("tolerate KEY = VALUE|KEY exists [effect NoSchedule|...]", _tolerate),
    "spread": Spec(
        "spread by LABEL across TOPOLOGY-KEY [max-skew N] [hard|soft]", _spread("spread")
    ),
    "anti-affinity": Spec(
        "anti-affinity by LABEL across TOPOLOGY-KEY [hard|soft]", _spread("anti-affinity")
    ),
    "block-io": Spec("block-io CLASS", _block_io),
    "proxy": Spec("proxy cpu Q memory Q", _proxy),
}

STATEMENTS: dict[str, dict[str, Spec]] = {
    "cluster": {
        "governs": Spec("governs KEY = VALUE [, KEY exists ...]", _governs),
        "exclude": Spec("exclude namespaces NAME [, NAME ...]", _exclude),
        "cni": Spec("cni calico [version X.Y] | cilium | bandwidth-plugin | none", _cni),
        "mesh-cni": Spec("mesh-cni istio [, linkerd]", _mesh_cni),
        "webhook": Spec("webhook service NAME namespace NS [port N]", _webhook),
        "failure-policy": Spec("failure-policy fail|ignore", _failure),
        "timeout": Spec("timeout SECONDSs", _timeout),
    },
    "profile": dict(_RESOURCES),
    "tier": {**_RESOURCES, **_TIER_ONLY},
    "tenant": {
        "namespaces": Spec("namespaces NAME|GLOB [, ...]", _namespaces),
        "tiers": Spec("tiers TIER [, TIER ...]", _tiers),
        "default-tier": Spec("default-tier TIER", _default_tier),
        "quota": Spec("quota [tier TIER] cpu Q memory Q pods N ephemeral-storage Q", _quota),
        "cost-center": Spec('cost-center "CODE"', _cost_center),
        "label": Spec('label KEY = "value"', _label),
        "allow": Spec(
            "allow egress dns | allow egress|ingress tenant|namespace|pods|cidr ... [ports tcp N[-M], ...] [as SA, ...]",
            _allow,
        ),
    },
}

BLOCK_USAGE = {
    "cluster": "cluster { ... }",
    "profile": "profile NAME { ... }",
    "tier": "tier NAME { ... }",
    "tenant": "tenant NAME { ... }",
}
TOP_LEVEL = {"policy": 'policy NAME version "VERSION"'}


def _statement(kind: str, raw: RawStatement, sink: list[Diagnostic]) -> ast.Statement | None:
    specs = STATEMENTS[kind]
    spec = specs.get(raw.keyword)
    if spec is None:
        elsewhere = [k for k, v in STATEMENTS.items() if raw.keyword in v]
        hint = did_you_mean(raw.keyword, specs)
        if hint is None and elsewhere:
            hint = f"`{raw.keyword}` belongs in a {' or '.join(elsewhere)} block"
        sink.append(
            error(
                "E011",
                f"unknown statement `{raw.keyword}` in a {kind} block",
                raw.keyword_span,
                hint,
            )
        )
        return None
    args = Args(raw, spec.usage, raw.args)
    try:
        node = spec.read(args, raw.span)
        args.end()
    except _Misfit as m:
        sink.append(m.diagnostic)
        return None
    return node


def _block(raw: RawBlock, sink: list[Diagnostic]) -> ast.Block | None:
    if raw.kind not in STATEMENTS:
        hint = did_you_mean(raw.kind, STATEMENTS) or "blocks are cluster, profile, tier and tenant"
        sink.append(error("E010", f"unknown block `{raw.kind}`", raw.kind_span, hint))
        return None
    args = Args(raw, BLOCK_USAGE[raw.kind], raw.args)
    name = None
    try:
        if raw.kind != "cluster":
            name = args.value(f"a {raw.kind} name")
        args.end()
    except _Misfit as m:
        sink.append(m.diagnostic)
        return None
    stmts = tuple([n for st in raw.statements if (n := _statement(raw.kind, st, sink)) is not None])
    return ast.Block(kind=raw.kind, name=name, statements=stmts, span=raw.span)  # type: ignore[arg-type]


def _policy(raw: RawStatement, sink: list[Diagnostic]) -> ast.PolicyDecl | None:
    args = Args(raw, TOP_LEVEL["policy"], raw.args)
    try:
        name = args.value("a policy name")
        args.expect("version")
        version = args.value("a version")
        args.end()
    except _Misfit as m:
        sink.append(m.diagnostic)
        return None
    return ast.PolicyDecl(name=name, version=version, span=raw.span)


def build_module(raw: RawFile, sink: list[Diagnostic]) -> ast.Module:
    policy: list[ast.PolicyDecl] = []
    blocks: list[ast.Block] = []
    for item in raw.items:
        if isinstance(item, RawBlock):
            if (b := _block(item, sink)) is not None:
                blocks.append(b)
        elif item.keyword == "policy":
            if (p := _policy(item, sink)) is not None:
                policy.append(p)
        else:
            hint = (
                f"`{item.keyword}` goes inside a {' or '.join(k for k, v in STATEMENTS.items() if item.keyword in v)} block"
                if any(item.keyword in v for v in STATEMENTS.values())
                else did_you_mean(item.keyword, [*STATEMENTS, *TOP_LEVEL])
                or "a file holds `policy` and cluster, profile, tier and tenant blocks"
            )
            sink.append(
                error(
                    "E010", f"unexpected `{item.keyword}` at the top level", item.keyword_span, hint
                )
            )
    return ast.Module(path=raw.path, policy=tuple(policy), blocks=tuple(blocks))


def parse_module(text: str, path: str) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse and read one file. The module is None only when the file does not parse."""
    raw, diagnostics = parse_text(text, path)
    if raw is None:
        return None, diagnostics
    return build_module(raw, diagnostics), diagnostics


def parse_sources(sources: Sequence[Source]) -> tuple[list[ast.Module], list[Diagnostic]]:
    """Parse every source; every file's problems are reported, not just the first file's."""
    modules: list[ast.Module] = []
    diagnostics: list[Diagnostic] = []
    for src in sources:
        module, diags = parse_module(src.text, src.path)
        diagnostics.extend(diags)
        if module is not None:
            modules.append(module)
    return modules, diagnostics
