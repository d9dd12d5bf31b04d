import subprocess
import sys

import pytest

from fastem.cli import main


def test_demo_prints_the_comparison_table(capsys):
    code = main(["demo", "--n-samples", "2000", "--n-test", "500", "--n-features", "300",
                 "--n-classes", "4", "--labeled", "8,40", "--separation", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["8", "40"]
    for row in rows:
        nb_acc, em_acc = float(row[3]), float(row[6])
        assert 0 <= nb_acc <= 1 and 0 <= em_acc <= 1
    # with 40 labels and 1960 unlabelled documents EM must beat labelled-only NB here
    assert float(rows[1][6]) > float(rows[1][3])


def test_demo_rejects_more_labels_than_documents():
    with pytest.raises(SystemExit, match="exceeds"):
        main(["demo", "--n-samples", "10", "--labeled", "20"])


def test_bad_option_is_one_line_error():
    proc = subprocess.run([sys.executable, "-m", "fastem.cli", "demo", "--labeled", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--labeled" in proc.stderr


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out
