"""``pinnace image``: build local OCI images, push them to a registry, import them into containerd.

    pinnace image list-recipes
    pinnace image build busybox -o DIR [-t REF]
    pinnace image build --from-dir ROOTFS -o DIR -t REF [--entrypoint ...] [--cmd ...] [--env K=V]
    pinnace image push DIR 127.0.0.1:5000/library/busybox:latest --insecure
    pinnace image import DIR [--image REF] [--address SOCK] [--namespace k8s.io]

The machine may have no internet, so these are how images get onto it:
built from the host's files (:mod:`pinnace.image.recipes`), then pushed to a
registry the nodes pull from, or imported straight into a containerd.

:func:`add_image_commands` adds the ``image`` command to the top-level parser;
the handlers import the image modules only when they run, so ``pinnace
--help`` stays fast. Exit codes: 0 on success, 1 when the work failed (one line
on stderr says why), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_image_commands"]

DEFAULT_CONTAINERD_ADDRESS = "/run/containerd/containerd.sock"


def _argv(text: str) -> list[str]:
    """A command given as a JSON array (``'["sh", "-c", "x"]'``) or as shell words."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"not a JSON array: {e}") from None
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise argparse.ArgumentTypeError("expected a JSON array of strings")
        return value
    try:
        return shlex.split(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _env(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return text


def add_image_commands(subparsers: Any) -> None:
    """Add ``pinnace image build|push|import|list-recipes`` to a parser's subcommands."""
    image = subparsers.add_parser(
        "image",
        help="build, push and import container images",
        description="Build OCI images from the host's files, push them to a registry, "
        "or import them into containerd.",
    )
    image.set_defaults(func=lambda args: _usage(image))
    sub = image.add_subparsers(dest="image_command", metavar="SUBCOMMAND")

    ls = sub.add_parser("list-recipes", help="list the built-in image recipes")
    ls.set_defaults(func=_cmd_list_recipes)

    build = sub.add_parser(
        "build",
        help="build an image into an OCI layout directory",
        description="Build a built-in recipe, or any root filesystem directory (--from-dir), "
        "into an OCI image layout. Prints the manifest digest.",
    )
    build.add_argument("recipe", nargs="?", metavar="RECIPE", help="a built-in recipe")
    build.add_argument("--from-dir", metavar="DIR", help="build from this root filesystem")
    build.add_argument(
        "-o", "--output", required=True, metavar="LAYOUT_DIR", help="OCI layout dir to write"
    )
    build.add_argument(
        "-t",
        "--tag",
        metavar="REF",
        help="image name (default: the recipe's; required with --from-dir)",
    )
    g = build.add_argument_group("image config (with --from-dir)")
    g.add_argument("--entrypoint", type=_argv, metavar="CMD", help="JSON array or shell words")
    g.add_argument("--cmd", type=_argv, metavar="CMD", help="JSON array or shell words")
    g.add_argument("--env", type=_env, action="append", default=[], metavar="NAME=VALUE")
    g.add_argument("--workdir", default="", metavar="DIR")
    g.add_argument("--user", default="", metavar="USER[:GROUP]")
    g.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]")
    g.add_argument(
        "--keep-owner", action="store_true", help="keep file owners (default: everything 0:0)"
    )
    build.set_defaults(func=_cmd_build)

    push = sub.add_parser(
        "push",
        help="push an image of a layout to a registry",
        description="Push an image of an OCI layout to a registry (the /v2/ API). "
        "Prints the manifest digest.",
    )
    push.add_argument("layout", metavar="LAYOUT_DIR")
    push.add_argument("dest", metavar="DEST", help="e.g. 127.0.0.1:5000/library/busybox:latest")
    push.add_argument(
        "--image", metavar="REF", help="which image of the layout (default: the only one)"
    )
    push.add_argument("--insecure", action="store_true", help="plain HTTP")
    push.add_argument("--username", "-u", metavar="NAME")
    push.add_argument(
        "--password",
        "-p",
        metavar="PASSWORD",
        help="(default: $PINNACE_REGISTRY_PASSWORD or a prompt)",
    )
    push.set_defaults(func=_cmd_push)

    imp = sub.add_parser(
        "import",
        help="import the images of a layout into containerd",
        description="Import images of an OCI layout into containerd (ctr images import).",
    )
    imp.add_argument("layout", metavar="LAYOUT_DIR")
    imp.add_argument("--image", metavar="REF", help="only this image (default: all of them)")
    imp.add_argument(
        "--address",
        default=os.environ.get("CONTAINERD_ADDRESS", DEFAULT_CONTAINERD_ADDRESS),
        metavar="SOCK",
        help=f"containerd socket (default $CONTAINERD_ADDRESS or {DEFAULT_CONTAINERD_ADDRESS})",
    )
    imp.add_argument(
        "--namespace", "-n", default="k8s.io", help="containerd namespace (default k8s.io)"
    )
    imp.set_defaults(func=_cmd_import)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _fail(command: str, err: BaseException) -> int:
    print(f"pinnace image {command}: {err}", file=sys.stderr)
    return 1


def _cmd_list_recipes(args: argparse.Namespace) -> int:
    from pinnace.image.recipes import RECIPES

    for name, r in sorted(RECIPES.items()):
        print(f"{name:<10} {r.ref:<36} {r.description}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from pinnace.image.oci import DEFAULT_PATH_ENV, ImageConfig, LayoutError
    from pinnace.image.recipes import RecipeError, build, build_from_dir

    if (args.recipe is None) == (args.from_dir is None):
        print("pinnace image build: give a RECIPE or --from-dir DIR (one of them)", file=sys.stderr)
        return 2
    try:
        if args.from_dir is not None:
            if not args.tag:
                print("pinnace image build: --from-dir needs -t REF", file=sys.stderr)
                return 2
            env = list(args.env)
            if not any(e.startswith("PATH=") for e in env):
                env.insert(0, DEFAULT_PATH_ENV)
            config = ImageConfig(
                entrypoint=args.entrypoint,
                cmd=args.cmd,
                env=env,
                working_dir=args.workdir,
                user=args.user,
                exposed_ports=list(args.expose),
            )
            digest = build_from_dir(
                Path(args.from_dir),
                Path(args.output),
                args.tag,
                config=config,
                keep_owner=args.keep_owner,
            )
        else:
            digest = build(args.recipe, Path(args.output), ref=args.tag)
    except (RecipeError, LayoutError, ValueError, OSError) as e:
        return _fail("build", e)
    print(digest)
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    import aiohttp

    from pinnace.image.oci import LayoutError
    from pinnace.image.registry_client import PushError, push

    auth = None
    if args.username:
        password = args.password or os.environ.get("PINNACE_REGISTRY_PASSWORD")
        if password is None:
            password = getpass.getpass(f"password for {args.username}: ")
        auth = (args.username, password)
    try:
        digest = asyncio.run(
            push(Path(args.layout), args.image, args.dest, insecure=args.insecure, auth=auth)
        )
    except (PushError, LayoutError, ValueError, OSError, aiohttp.ClientError) as e:
        return _fail("push", e)
    print(digest)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from pinnace.image.importer import ImageImportError, import_into_containerd
    from pinnace.image.oci import LayoutError

    try:
        asyncio.run(
            import_into_containerd(
                Path(args.layout), args.image, address=args.address, namespace=args.namespace
            )
        )
    except (ImageImportError, LayoutError, ValueError, OSError) as e:
        return _fail("import", e)
    return 0
