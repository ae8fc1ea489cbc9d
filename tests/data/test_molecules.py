import pytest
import torch

from selfattn.data import collate, load_b3db, load_freesolv, load_solubility, smiles_to_set
from selfattn.data.molecules import ATOM_FEATURES, BOND_FEATURES, read_smiles_table

pytest.importorskip("rdkit")


def test_benzene_and_ethanol_features():
    benzene = smiles_to_set("c1ccccc1")
    assert benzene.x.shape == (6, ATOM_FEATURES) and ATOM_FEATURES == 38
    assert benzene.edge_index.shape == (2, 12) and benzene.edge_attr.shape == (12, BOND_FEATURES)
    assert bool((benzene.x[:, 0] == 1).all())  # all carbon
    aromatic_atom = 15 + 6 + 6  # element, degree and charge blocks come first
    assert bool((benzene.x[:, aromatic_atom] == 1).all())
    assert bool((benzene.edge_attr[:, 3] == 1).all())  # aromatic bonds
    ethanol = smiles_to_set("CCO", y=torch.tensor(1.5))
    assert ethanol.x.shape == (3, ATOM_FEATURES) and ethanol.x[2, 2] == 1  # oxygen
    assert bool((ethanol.edge_attr[:, 0] == 1).all())  # single bonds
    hydrogens = ethanol.x[:, aromatic_atom + 1:aromatic_atom + 6].argmax(1).tolist()
    assert hydrogens == [3, 2, 1]
    batch = collate([benzene, ethanol], "packed")
    assert batch.edge_index.shape == (2, 16) and int(batch.edge_index.max()) == 8


def test_invalid_smiles_is_named():
    with pytest.raises(ValueError, match=r"t.csv:3: invalid SMILES 'C1CC'"):
        smiles_to_set("C1CC", source="t.csv:3")
    with pytest.raises(ValueError, match=r"invalid SMILES ''"):
        smiles_to_set("")


def test_table_counts_and_reports_invalid_rows(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text("name,smiles,value\nwater,O,1.0\nbroken,C(C,2.0\nbenzene,c1ccccc1,3.5\n"
                    "bad valence,C(C)(C)(C)(C)C,4\n")
    with pytest.warns(UserWarning, match=r"skipped 2 of 4 molecules .*row 3 'C\(C'.*row 5"):
        data = read_smiles_table(path, "smiles", "value")
    assert len(data) == 2 and data.info["invalid"] == [(3, "C(C"), (5, "C(C)(C)(C)(C)C")]
    assert [float(e.y) for e in data] == [1.0, 3.5]
    with pytest.raises(ValueError, match=r"mols.csv:3: invalid SMILES 'C\(C'"):
        read_smiles_table(path, "smiles", "value", on_invalid="error")
    with pytest.raises(ValueError, match=r"mols.csv: expected a column 'SMILES'"):
        read_smiles_table(path, "SMILES", "value")
    (tmp_path / "t.csv").write_text("smiles,value\nCCO,high\n")
    with pytest.raises(ValueError, match=r"t.csv:2: target 'value' is 'high'"):
        read_smiles_table(tmp_path / "t.csv", "smiles", "value")


def test_b3db_format_from_a_user_file(tmp_path):
    path = tmp_path / "b3db.tsv"
    path.write_text("NO.\tSMILES\tBBB+/BBB-\n1\tCCO\tBBB+\n2\tc1ccccc1O\tBBB-\n")
    data = load_b3db(path=path)
    assert [int(e.y) for e in data] == [1, 0] and data.info["classes"] == ["BBB-", "BBB+"]


def test_real_freesolv_and_solubility(real_data):
    freesolv = load_freesolv(real_data("freesolv") / "freesolv.csv")
    assert len(freesolv) == 642 and freesolv.info["invalid"] == []
    folder = real_data("solubility")
    train, test = (load_solubility(s, folder / f"solubility.{s}.sdf") for s in ("train", "test"))
    assert (len(train), len(test)) == (1025, 257)


def test_real_b3db_has_two_invalid_smiles(real_data):
    folder = real_data("b3db")
    with pytest.warns(UserWarning, match=r"skipped 2 of 7807"):
        data = load_b3db(path=folder / "B3DB_classification.tsv")
    assert len(data) == 7805 and [row for row, _ in data.info["invalid"]] == [5045, 7739]
    counts = torch.bincount(torch.stack([e.y for e in data])).tolist()
    assert counts == [2849, 4956]
