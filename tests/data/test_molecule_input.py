"""smiles_to_set takes an RDKit Mol as well as a SMILES string: the same atoms, bonds and features."""

from __future__ import annotations

import pytest
import torch

from selfattn.data import smiles_to_set

Chem = pytest.importorskip("rdkit.Chem")


@pytest.mark.parametrize("smiles", ["CCO", "c1ccccc1O", "C[N+](C)(C)C", "O=C(O)c1ccccc1C(=O)[O-]", "[Na+].[Cl-]"])
def test_a_mol_gives_the_set_of_its_smiles(smiles):
    from_text = smiles_to_set(smiles, torch.tensor(1.0), "row 2")
    from_mol = smiles_to_set(Chem.MolFromSmiles(smiles), torch.tensor(1.0), "row 2")
    for name in ("x", "y", "edge_index", "edge_attr"):
        assert torch.equal(getattr(from_mol, name), getattr(from_text, name)), name
    assert from_mol.source == "row 2"


def test_a_mol_is_taken_as_it_is():
    # explicit hydrogens (AddHs) are atoms of the Mol, so they become vectors of the set
    with_h = smiles_to_set(Chem.AddHs(Chem.MolFromSmiles("CCO")))
    assert with_h.x.shape[0] == 9 and with_h.edge_index.shape[1] == 2 * 8
    # a Mol read from a MOL block (atoms in the block's order) equals the SMILES's set
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("c1ccncc1"))
    assert torch.equal(smiles_to_set(Chem.MolFromMolBlock(block)).x, smiles_to_set("c1ccncc1").x)


def test_bad_molecules_are_named():
    with pytest.raises(ValueError, match=r"^row 7: smiles: an RDKit Mol with no atoms$"):
        smiles_to_set(Chem.Mol(), source="row 7")
    with pytest.raises(TypeError, match=r"^smiles: expected a SMILES string or an RDKit Mol, got int$"):
        smiles_to_set(42)
    with pytest.raises(ValueError, match=r"invalid SMILES 'C1CC'"):
        smiles_to_set("C1CC")
