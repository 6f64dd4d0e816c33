"""Evidence that does not fill the disk: Evidently's pages load its script and font from one shared copy in
the reports folder's ``assets/``, hold each graph once, and a run may go without an Evidently page at all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import fsspec
import pandas as pd
import pytest

from driftwarden.checks.profile import build_profile
from driftwarden.config.model import ModelConfig
from driftwarden.flows import files as report_files
from driftwarden.flows.reports import pages
from tests.flows.reports.browser import opened
from tests.streams import AGRAWAL_CAT, AGRAWAL_NUM, agrawal, agrawal_config

LABEL = "2025-02-20T00:00:00+00:00 .. 2025-02-21T00:00:00+00:00"


def _static(name: str) -> bytes:
    import evidently

    return (Path(evidently.__path__[0]) / "nbextension" / "static" / name).read_bytes()


@pytest.fixture(scope="module")
def inputs() -> tuple[ModelConfig, pd.DataFrame, Any]:
    frame = agrawal()
    cfg = ModelConfig.model_validate(agrawal_config())
    profile = build_profile(frame.iloc[5000:7000], AGRAWAL_NUM, AGRAWAL_CAT)
    return cfg, frame.iloc[12000:12400].reset_index(drop=True), profile


def _write(inputs: tuple[ModelConfig, pd.DataFrame, Any], out_dir: str, stem: str, **kw: Any) -> str:
    cfg, sample, profile = inputs
    return pages.write_reports(cfg, sample, 1000, profile, out_dir, stem, LABEL, "ok", [], **kw)


def _links(page: str) -> tuple[str, str]:
    """The script and the font an Evidently page loads."""
    (script,) = re.findall(r'<script src="([^"]+)"></script>', page)
    (font,) = re.findall(r"src: url\(([^)]+)\);", page)
    return script, font


def _data(page: str) -> tuple[Any, Any]:
    """The dashboard and the map of graphs an Evidently page draws."""
    found = re.search(r"var (\w+) = (.*?);\n\s*var additional_graphs_\1 = (.*?);\n</script>", page, re.S)
    assert found, "no data block"
    return json.loads(found.group(2)), json.loads(found.group(3))


def _strip(widget: dict[str, Any]) -> dict[str, Any]:
    """A nested widget less its copy of the graphs (Evidently's page drops only the top-level widgets' copy)."""
    return {**widget, "additionalGraphs": [], "widgets": [_strip(w) for w in widget["widgets"]]}


def test_the_same_report_in_a_twentieth_of_the_bytes(inputs):
    cfg, sample, profile = inputs
    reference = profile.draw(cfg.columns.features, len(sample))
    columns, _ = pages.report_columns(cfg, sample, reference)
    snapshot = pages._drift_snapshot(cfg, columns, sample, reference)
    embedded = snapshot.get_html_str(as_iframe=False)
    linked = pages._linked_page(snapshot, "assets/e.js", "assets/e.woff2")
    # measured: 4.1 MB embedded, ~240 KB linked on the demo's windows (150 KB here)
    assert len(linked) < len(embedded) / 15, (len(linked), len(embedded))
    assert _links(linked) == ("assets/e.js", "assets/e.woff2")
    (info, graphs), (own_info, own_graphs) = _data(linked), _data(embedded)
    assert graphs == own_graphs and graphs, "every drill-down graph, once"
    own_info["widgets"] = [{**w, "widgets": [_strip(c) for c in w["widgets"]]} for w in own_info["widgets"]]
    for dashboard in (info, own_info):  # the group around the metrics' widgets is made anew for each page
        dashboard["widgets"][0].pop("id")
    assert info == own_info  # Evidently's page less the copies of the graphs its script never reads


def test_pages_share_one_copy_of_the_scripts(inputs, tmp_path):
    out = str(tmp_path / "agrawal")
    page = _write(inputs, out, "first")
    assert 'href="first-evidently.html"' in Path(page).read_text()
    first = (tmp_path / "agrawal" / "first-evidently.html").read_text()
    script, font = _links(first)
    assert script.startswith("assets/") and not os.path.isabs(script)  # relative: from disk and over http
    assets = tmp_path / "agrawal"
    assert (assets / script).read_bytes() == _static("index.js")
    assert (assets / font).read_bytes() == _static("material-ui-icons.woff2")
    stat = os.stat(assets / script)

    _write(inputs, out, "second")
    assert _links((assets / "second-evidently.html").read_text()) == (script, font)
    again = os.stat(assets / script)
    assert (again.st_ino, again.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), "written once"
    assert sorted(p.name for p in (assets / "assets").iterdir()) == sorted(Path(x).name for x in (script, font)), (
        "no temporary files left"
    )
    assert (tmp_path / "agrawal" / "second-evidently.html").stat().st_size < 400_000


def test_a_memory_url(inputs):
    base = f"memory://dw-evidence-{uuid.uuid4().hex[:8]}/agrawal"
    page = _write(inputs, base, "w")
    fs = fsspec.filesystem("memory")
    assert page == f"{base}/w.html" and fs.exists(page)
    script, font = _links(fs.cat_file(f"{base}/w-evidently.html").decode())
    assert fs.cat_file(f"{base}/{script}") == _static("index.js")
    assert fs.cat_file(f"{base}/{font}") == _static("material-ui-icons.woff2")


def test_without_shared_scripts_the_page_embeds_them(inputs, tmp_path, monkeypatch):
    def fail(local: str, uri: str) -> bool:
        raise PermissionError("read-only")

    monkeypatch.setattr(report_files, "put_once", fail)
    page = _write(inputs, str(tmp_path), "w")
    assert 'href="w-evidently.html"' in Path(page).read_text()
    assert (tmp_path / "w-evidently.html").stat().st_size > 3_000_000  # Evidently's own page, scripts inside
    assert not (tmp_path / "assets").exists()


def test_no_evidently_page_and_no_evidently_import(tmp_path):
    """A run that draws no Evidently page does not pay Evidently's import, and its page says why."""
    code = f"""
import json, sys
import pandas as pd
import driftwarden.flows.reports.pages as pages, driftwarden.flows.reports.status
from driftwarden.checks.profile import build_profile
from driftwarden.config.model import ModelConfig
from tests.streams import AGRAWAL_CAT, AGRAWAL_NUM, agrawal_config
frame = pd.DataFrame({{c: [1.0, 2.0, 3.0] for c in AGRAWAL_NUM}} | {{c: ["a", "b", "a"] for c in AGRAWAL_CAT}})
profile = build_profile(frame, AGRAWAL_NUM, AGRAWAL_CAT)
cfg = ModelConfig.model_validate(agrawal_config())
page = pages.write_reports(cfg, frame, 3, profile, {str(tmp_path)!r}, "w", {LABEL!r}, "ok", [], evidently=False)
print(json.dumps({{"page": page, "loaded": sorted(m for m in sys.modules if m.split(".")[0] == "evidently")}}))
"""
    root = Path(__file__).parents[3]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.html"]
    text = Path(result["page"]).read_text()
    assert "No Evidently drift report for this window" in text and "finding" in text
    assert "--window-end 2025-02-21T00:00:00+00:00" in text


def test_put_once_writes_once_and_whole(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1 << 20))
    dest = str(tmp_path / "assets" / "a.bin")
    wrote: list[bool] = []
    threads = [threading.Thread(target=lambda: wrote.append(report_files.put_once(str(src), dest))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Path(dest).read_bytes() == src.read_bytes() and any(wrote)
    assert os.listdir(tmp_path / "assets") == ["a.bin"]
    assert report_files.put_once(str(src), dest) is False
    Path(dest).write_bytes(b"half")  # a truncated copy (another tool's): replaced
    assert report_files.put_once(str(src), dest) is True and Path(dest).read_bytes() == src.read_bytes()


HOSTILE = ("</script><b>x", "<img src=x onerror=alert(1)>", "<!--<script>")
"""Category values that, written raw into an inline script, close it and run script or inject elements."""


@pytest.fixture(scope="module")
def hostile() -> tuple[ModelConfig, pd.DataFrame, Any]:
    """The stream with its categories as strings (so Evidently draws them as category labels), and a window in
    which production brought ``car`` values made of markup."""
    frame = agrawal()
    frame[AGRAWAL_CAT] = frame[AGRAWAL_CAT].astype(str)
    cfg = ModelConfig.model_validate(agrawal_config())
    profile = build_profile(frame.iloc[5000:7000], AGRAWAL_NUM, AGRAWAL_CAT)
    sample = frame.iloc[12000:12400].reset_index(drop=True)
    for i, value in enumerate(HOSTILE):
        sample.loc[i * 100 : i * 100 + 99, "car"] = value
    return cfg, sample, profile


@pytest.mark.parametrize("shared", [True, False], ids=["linked", "self-contained"])
def test_a_category_value_runs_no_script_in_the_evidently_page(hostile, tmp_path, monkeypatch, shared):
    """A value from the data cannot close the page's inline script: no dialog, no injected element, no error;
    the value reads the same in the page's data and is drawn as text where Evidently shows category values."""
    if not shared:

        def fail(local: str, uri: str) -> bool:
            raise PermissionError("read-only")

        monkeypatch.setattr(report_files, "put_once", fail)
    _write(hostile, str(tmp_path), "w")
    path = tmp_path / "w-evidently.html"
    text = path.read_text()
    assert (len(text) > 3_000_000) is not shared  # the fallback holds Evidently's script, the linked page links it
    for value in HOSTILE:
        assert value not in text
    assert text.lower().count("</script") == 4  # the template's scripts (data, global, Evidently's, the call)
    block = re.search(r"<script>\n    var metric_\w+ = (.*?)\n</script>", text, re.S)
    assert block and "<" not in block.group(1)  # no </script, no <!--, no <script inside the data's script
    info, graphs = _data(text)
    for value in HOSTILE:  # the same data: ``\u003c`` is ``<`` to JSON and to the script
        assert value in json.dumps(info, ensure_ascii=False) and value in json.dumps(graphs, ensure_ascii=False)

    dialogs: list[str] = []
    with opened(path, f"evidently-hostile-categories-{'linked' if shared else 'embedded'}") as seen:
        page = seen.page
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.reload(wait_until="load")  # again, with the dialogs watched from the start (an onerror fires early)
        page.wait_for_timeout(500)
        page.locator("tr", has_text="car").first.locator("button").first.click()  # the column's drill-down
        page.locator(".js-plotly-plot .xtick").first.wait_for()
        ticks = page.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot .xtick text')).map(t => t.textContent)"
        )
        injected = page.evaluate("Array.from(document.querySelectorAll('b, img')).map(e => e.outerHTML)")
        assert page.evaluate("typeof window.drawDashboard") == "function"
    assert dialogs == [] and injected == [] and seen.errors == []
    loaded = {Path(unquote(urlparse(u).path)).name for u in seen.external(path.resolve().as_uri())}
    assert loaded <= ({Path(u).name for u in _links(text)} if shared else set())  # and no <img src=x>
    # Plotly reads markup in a label as its own formatting (<b> is a bold span of its SVG, not an element)
    assert "<img src=x onerror=alert(1)>" in ticks and "</script>x" in ticks, ticks
