"""``mmbss report --html`` (issue 12, deliverable 5): one self-contained page, checked in a real
headless Chromium: it loads without console errors, makes no network request, shows every
section with its figures."""

import json
import re

import pytest

from mmbss.cli.main import main
from mmbss.engine import train
from mmbss.engine.html import SECTIONS, write_html

from ..conftest import tiny_config
from .browser import Browser


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    cfg = tiny_config("bss-lb+ogm-ge", epochs=2)
    train(cfg, tmp / "run", quiet=True)
    assert main(["report", str(tmp / "run"), "--html", str(tmp / "run.html")]) == 0
    return tmp, tmp / "run.html"


def test_the_page_is_self_contained(pages):
    _, page = pages
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text)
    assert "<script" not in text and text.count("data:image/png;base64,") >= 5
    assert all(f'id="{s}"' in text for s in SECTIONS)


def test_chromium_renders_every_section_with_no_error_and_no_request(pages):
    tmp, page = pages
    browser = Browser(tmp / "profile")
    try:
        browser.requests()  # drain what the browser's start-up page logged
        browser.open(page.as_uri())
        shown = browser.run("return [...document.querySelectorAll('section')].map(s => "
                            "[s.id, s.querySelector('h2').innerText, s.getBoundingClientRect().height,"
                            " [...s.querySelectorAll('img')].map(i => i.naturalWidth)])")
        errors = [e for e in browser.logs("browser") if e["level"] in ("SEVERE", "WARNING")]
        requests = [u for u in browser.requests()  # chrome:// is the browser's own UI, not network
                    if u != page.as_uri() and not u.startswith(("data:", "chrome:"))]
        browser.screenshot(tmp / "report.png")
        control = tmp / "control.html"  # the detector itself: a page that does fetch something
        control.write_text('<img src="http://127.0.0.1:9/x.png">')
        browser.requests()
        browser.open(control.as_uri())
        fetched = [u for u in browser.requests() if u.startswith("http:")]
    finally:
        browser.close()
    assert [s[0] for s in shown] == list(SECTIONS) and [s[1] for s in shown] == list(SECTIONS.values())
    assert all(s[2] > 30 for s in shown)  # every section has content on screen
    images = {s[0]: s[3] for s in shown}
    for sid in ("learning", "modality", "scores", "pacing", "method"):
        assert images[sid] and all(w > 200 for w in images[sid]), sid  # decoded, not broken
    assert errors == [] and requests == []
    assert fetched == ["http://127.0.0.1:9/x.png"]
    assert (tmp / "report.png").stat().st_size > 10_000


def test_a_comparison_with_an_unfinished_run_lists_it(tmp_path):
    cfg = tiny_config("uniaux", epochs=1)
    cfg.compare.methods, cfg.compare.seeds = ["uniaux", "bss-lb"], [0, 1]
    from mmbss.engine.compare import compare

    compare(cfg, tmp_path / "cmp", quiet=True)
    (tmp_path / "cmp" / "runs" / "bss-lb" / "seed1" / "summary.json").unlink()
    text = write_html(tmp_path / "cmp", tmp_path / "cmp.html").read_text()
    assert "1 run(s) did not finish" in text and "bss-lb/seed1" in text
    assert "verdict" in text and "Δacc vs uniaux (paired): mean [95 % CI]" in text
    summary = json.loads((tmp_path / "cmp" / "runs" / "uniaux" / "seed0" / "summary.json").read_text())
    assert summary["method"] == "uniaux"


def test_a_folder_that_is_neither_a_run_nor_a_comparison_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"is neither a run directory \(no metrics.jsonl\) nor a "
                                         r"comparison directory \(no runs/\); give a folder written "
                                         r"by 'mmbss train' or 'mmbss compare'\."):
        write_html(tmp_path, tmp_path / "x.html")
