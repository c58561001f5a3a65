"""`hermetic certs`: issue, rotate, check and inject the webhook's TLS material.

    hermetic certs issue  --service NAME --namespace NS --out DIR [--days 365] [--ca-days 3650]
                          [--dns NAME]... [--ip ADDR]... [--ca-dir DIR] [--key-type ecdsa|rsa]
                          [--force]
    hermetic certs client --cn NAME --ca-dir DIR --out DIR [--days 365] [--key-type ecdsa|rsa]
    hermetic certs rotate --dir DIR [--service NAME --namespace NS] [--dns NAME]... [--ip ADDR]...
                          [--days 365] [--ca-days 3650] [--key-type ecdsa|rsa]
    hermetic certs rotate --dir DIR --finish
    hermetic certs inject (--ca-bundle FILE | --dir DIR) MANIFEST...
    hermetic certs check  (--dir DIR | --cert FILE) [--days-threshold 30] [--format text|json]

Exit codes: 0 ok; 1 `check` found a problem or `inject` found no webhook; 2 usage or I/O
errors (a missing file, a directory in the wrong state), reported in one line.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

import certs
from cli.main import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `hermetic certs` and its subcommands to the `hermetic` parser."""
    p = sub.add_parser("certs", help="issue, rotate, check and inject the webhook's TLS material")
    p.set_defaults(func=run)
    commands = p.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    _issue_parser(commands)
    _client_parser(commands)
    _rotate_parser(commands)
    _inject_parser(commands)
    _check_parser(commands)


def run(args: argparse.Namespace) -> int:
    """Run the `hermetic certs` subcommand chosen in `args`; return the exit code."""
    handler: Callable[[argparse.Namespace], int] = _HANDLERS[args.certs_command]
    try:
        return handler(args)
    except (certs.CertsError, OSError) as exc:
        print(f"hermetic certs: {exc}", file=sys.stderr)
        return EXIT_USAGE


# parsers


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"want a whole number of days >= 1, got {text!r}")
    return value


def _ip(text: str) -> certs.IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def _add_names(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--service", required=required, help="the webhook's Service name")
    p.add_argument("--namespace", required=required, help="the Service's namespace")
    p.add_argument(
        "--dns", action="append", default=[], metavar="NAME", help="an extra DNS SAN (repeatable)"
    )
    p.add_argument(
        "--ip", action="append", default=[], type=_ip, metavar="ADDR", help="an IP SAN (repeatable)"
    )


def _add_validity(p: argparse.ArgumentParser, *, ca: bool, key_default: str | None) -> None:
    p.add_argument(
        "--days",
        type=_positive,
        default=certs.LEAF_DAYS,
        help=f"certificate validity (default {certs.LEAF_DAYS})",
    )
    if ca:
        p.add_argument(
            "--ca-days",
            type=_positive,
            default=certs.CA_DAYS,
            help=f"validity of a new CA (default {certs.CA_DAYS})",
        )
    p.add_argument(
        "--key-type",
        choices=certs.KEY_TYPES,
        default=key_default,
        help=f"ECDSA P-256 or RSA 3072 (default {key_default or 'that of the current key'})",
    )


def _issue_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("issue", help="write a CA and a serving certificate to a directory")
    _add_names(p, required=True)
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--ca-dir", type=Path, help="sign with the CA in this directory")
    p.add_argument("--force", action="store_true", help="replace a CA already in --out")
    _add_validity(p, ca=True, key_default="ecdsa")


def _client_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("client", help="write a client certificate (clientAuth)")
    p.add_argument("--cn", required=True, help="the client's common name")
    p.add_argument("--ca-dir", type=Path, required=True, help="sign with the CA in this directory")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    _add_validity(p, ca=False, key_default="ecdsa")


def _rotate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("rotate", help="replace CA and serving certificate without downtime")
    p.add_argument("--dir", type=Path, required=True, help="the certificate directory")
    p.add_argument("--finish", action="store_true", help="phase 2: drop the old CA from the bundle")
    _add_names(p, required=False)
    _add_validity(p, ca=True, key_default=None)


def _inject_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("inject", help="write the CA bundle into webhook configurations")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--ca-bundle", type=Path, metavar="FILE", help="a PEM CA bundle")
    source.add_argument("--dir", type=Path, help="a certificate directory (its ca-bundle.crt)")
    p.add_argument("manifests", type=Path, nargs="+", metavar="MANIFEST", help="YAML files")


def _check_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("check", help="report days to expiry, chain and key problems")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dir", type=Path, help="a certificate directory")
    source.add_argument("--cert", type=Path, metavar="FILE", help="a PEM certificate (or bundle)")
    p.add_argument(
        "--days-threshold",
        type=int,
        default=certs.DEFAULT_THRESHOLD_DAYS,
        metavar="N",
        help=f"fail under N days left (default {certs.DEFAULT_THRESHOLD_DAYS})",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")


# handlers


def _issue(args: argparse.Namespace) -> int:
    done = certs.issue(
        args.out,
        args.service,
        args.namespace,
        dns=args.dns,
        ips=args.ip,
        days=args.days,
        ca_days=args.ca_days,
        ca_dir=args.ca_dir,
        key_type=args.key_type,
        force=args.force,
    )
    origin = "new CA" if done.new_ca else f"CA from {args.ca_dir}"
    print(f"{done.directory}: ca.crt, ca.key, ca-bundle.crt, tls.crt, tls.key ({origin})")
    _describe("tls.crt", done.server.cert)
    return EXIT_OK


def _client(args: argparse.Namespace) -> int:
    pair = certs.issue_client(
        args.ca_dir, args.out, args.cn, days=args.days, key_type=args.key_type
    )
    print(f"{args.out}: client.crt, client.key")
    _describe("client.crt", pair.cert)
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    if args.finish:
        if args.service or args.namespace or args.dns or args.ip:
            raise certs.CertsError("rotate --finish takes no names: it issues nothing")
        certs.finish_rotation(args.dir)
        print(f"{args.dir}: ca-bundle.crt now trusts ca.crt only")
        print("next: push ca-bundle.crt into every caBundle (hermetic certs inject / sync)")
        return EXIT_OK
    done = certs.rotate(
        args.dir,
        service=args.service,
        namespace=args.namespace,
        dns=args.dns,
        ips=args.ip,
        days=args.days,
        ca_days=args.ca_days,
        key_type=args.key_type,
    )
    print(f"{args.dir}: new CA and tls.crt; old CA kept as ca.old.crt")
    _describe("tls.crt", done.server.cert)
    print("next: 1. push ca-bundle.crt (old + new CA) into every caBundle, then the TLS Secret;")
    print(f"      2. once all trust the new CA: hermetic certs rotate --finish --dir {args.dir}")
    return EXIT_OK


def _inject(args: argparse.Namespace) -> int:
    if args.ca_bundle is not None:
        bundle = certs.load_certs(args.ca_bundle)
    else:
        bundle = certs.read_bundle(args.dir)
    counts = certs.inject_files(args.manifests, bundle)
    for path, count in counts.items():
        print(f"{path}: {count} webhook(s) updated" if count else f"{path}: no webhooks")
    if not any(counts.values()):
        print("hermetic certs: no webhook configuration in the given manifests", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    threshold = args.days_threshold
    if args.dir is not None:
        report = certs.check_dir(args.dir, threshold_days=threshold)
    else:
        report = certs.check_file(args.cert, threshold_days=threshold)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _print_report(report: certs.CheckReport) -> None:
    width = max(len(c.label) for c in report.certificates)
    for c in report.certificates:
        when = f"{c.not_after:%Y-%m-%d %H:%M} UTC"
        print(f"{c.label:<{width}}  {when}  {c.days_left:>5} days  {c.status:<13}  {c.subject}")
    for problem in report.problems:
        print(f"problem: {problem}")
    if report.ok:
        print(f"ok: nothing expires within {report.threshold_days} days")


def _describe(label: str, cert: x509.Certificate) -> None:
    print(f"{label}: {cert.subject.rfc4514_string()}  expires {cert.not_valid_after_utc:%Y-%m-%d}")
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    print("  SANs: " + ", ".join(str(name.value) for name in sans))


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "issue": _issue,
    "client": _client,
    "rotate": _rotate,
    "inject": _inject,
    "check": _check,
}
