"""``lq native``: build the C and Rust kernels and the compiled cache store, or show what is usable."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("native", help="build native kernels or list backend availability",
                       description="Native (C, Rust) evaluation kernels are built on demand into native/build; "
                       "`lq native build` builds them ahead of time, `lq native status` lists every backend.")
    verbs = p.add_subparsers(dest="native_verb", metavar="ACTION", required=True)
    b = verbs.add_parser("build", help="compile the C and/or Rust kernels and the runtime cache's store")
    b.add_argument("--backend", choices=("all", "c", "rust", "cache-store"), default="all")
    b.set_defaults(func=build)
    s = verbs.add_parser("status", help="availability of every backend (no benchmark)")
    s.set_defaults(func=status)


def build(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup, step
    from lq_engine.core.cache_store import build_store
    from lq_engine.kernels.backends.native import NativeUnavailable, build_native

    setup(args.verbose)
    failed = 0
    for backend in (("c", "rust", "cache-store") if args.backend == "all" else (args.backend,)):
        try:
            built = build_store() if backend == "cache-store" else build_native(backend)
            step(f"{backend}: built {built}")
        except NativeUnavailable as e:
            step(f"{backend}: unavailable: {e}")
            failed += 1
    return 1 if failed and args.backend != "all" else 0


def status(args: argparse.Namespace) -> int:
    from lq_assets.cli.environment import setup
    from lq_engine.core.cache_store import store_base
    from lq_engine.kernels.backends import BACKENDS, availability

    setup(args.verbose)
    for name in BACKENDS:
        ok, reason = availability(name)
        print(f"{name:7s} {'available' if ok else 'unavailable'}{'' if ok else ': ' + reason}")
    print(f"runtime cache store: {store_base()[1]}")
    return 0
