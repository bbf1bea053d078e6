"""The release files agree with ``pyproject.toml``: LICENSE, CHANGELOG.md, CITATION.cff, one version."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys

import yaml

import vireid
from tests._project import REPO, project_license, project_version, source_files
from vireid.cli.main import main

APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_license_is_the_apache_2_text_pyproject_declares():
    assert project_license() == "Apache-2.0"
    # the canonical text, byte for byte (as in Debian's /usr/share/common-licenses/Apache-2.0)
    assert hashlib.sha256((REPO / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256


def test_changelog_has_an_unreleased_section_and_the_current_version():
    text = (REPO / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.MULTILINE)
    assert headings[0] == ("Unreleased", "")
    released = headings[1:]
    assert all(d for _, d in released), "every released version has a date"
    assert project_version() in [v for v, _ in released], f"no section for version {project_version()}"
    sections = set(re.findall(r"^### (\w+)$", text, re.MULTILINE))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_citation_cff_is_valid_yaml_with_the_required_keys():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"].strip() and cff["title"].strip().startswith("vireid")
    assert cff["authors"] and all(("name" in a) or ("family-names" in a) for a in cff["authors"])
    assert cff["license"] == project_license()
    assert "version" not in cff  # the version lives in pyproject.toml only
    for ref in cff.get("references", []):
        assert {"type", "title", "authors", "year"} <= set(ref), ref.get("title")


def test_version_is_declared_once_and_read_from_the_metadata(capsys):
    assert vireid.__version__ == importlib.metadata.version("vireid") == project_version()
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vireid {project_version()}"
    literal = re.compile(r"""(__version__\s*=\s*|^version\s*[:=]\s*)["']?\d+\.\d+""", re.MULTILINE)
    hits = [
        p
        for p in source_files()
        if (p.startswith("src/") or "/" not in p)
        and p.endswith((".py", ".toml", ".cfg", ".cff"))
        and p != "pyproject.toml"
        and literal.search((REPO / p).read_text())
    ]
    assert not hits, f"a version declared outside pyproject.toml: {hits}"


def test_an_uninstalled_source_tree_reports_an_unknown_version(tmp_path):
    tree = tmp_path / "src"
    (tree / "vireid").mkdir(parents=True)
    for name in ("__init__.py", "version.py"):  # the version is read by the leaf module vireid.version
        (tree / "vireid" / name).write_text((REPO / "src" / "vireid" / name).read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); import vireid; print(vireid.__version__)"
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0+unknown"
