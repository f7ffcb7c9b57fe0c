"""An import-linter contract type: no module imports another package's private module.

A module whose name has a segment starting with one underscore (`polyshop.adapters.postgres.
_uow`) is private to the package above that segment (`polyshop.adapters.postgres`): modules
inside that package may import it, nobody else may. What is shared is exported from the
package's `__init__`. Registered in pyproject.toml ([tool.importlinter] contract_types).
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def private_owner(module: str) -> str | None:
    """The package a module is private to (None: it is public)."""
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def may_import(importer: str, imported: str) -> bool:
    owner = private_owner(imported)
    return owner is None or importer == owner or importer.startswith(owner + ".")


class PrivateModulesContract(Contract):
    type_name = "private_modules"
    # Importers to leave out (e.g. a package's own tests living elsewhere); none today.
    ignore_importers = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        ignored = set(self.ignore_importers or [])  # type: ignore[arg-type]
        broken: list[dict[str, object]] = []
        for importer in sorted(graph.modules):
            if importer in ignored:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if may_import(importer, imported):
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                broken.append({"importer": importer, "imported": imported,
                               "lines": [d["line_number"] for d in details]})  # fmt: skip
        return ContractCheck(kept=not broken, warnings=None, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for found in check.metadata["broken"]:
            lines = ", ".join(f"l.{n}" for n in found["lines"])
            output.print_error(
                f"{found['importer']} imports {found['imported']}, private to another package"
                f" ({lines})"
            )
            output.new_line()
