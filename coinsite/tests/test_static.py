"""Production static files: collectstatic with the manifest storage production uses.

With DEBUG off every page links its CSS and JS through the manifest; a file the manifest storage
refuses (a vendored script naming a source map that is not shipped) leaves no manifest, and then
every page answers 500. This runs the same collectstatic, so such a file fails the tests.
"""

import json
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_collectstatic_with_the_production_manifest_storage_hashes_every_project_file(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": PRODUCTION_STORAGE}}

    call_command("collectstatic", "--noinput", verbosity=0)

    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    ours = {path.relative_to(ROOT / "static").as_posix() for path in (ROOT / "static").rglob("*") if path.is_file()}
    assert ours - manifest.keys() == set()
    for name in ("css/site.css", "js/earnings.js", "vendor/chartjs/chart.umd.min.js"):
        assert manifest[name] != name
        assert (tmp_path / manifest[name]).is_file()
        assert (tmp_path / f"{manifest[name]}.gz").is_file()


def test_vendored_files_name_no_source_map():
    """A map we do not ship is never named (see static/vendor/*/README.txt)."""
    named = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "static").rglob("*")
        if path.suffix in {".js", ".css"} and "sourceMappingURL" in path.read_text(errors="replace")
    ]

    assert named == []
