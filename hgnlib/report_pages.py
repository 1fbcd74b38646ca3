"""The HTML of the reports: one page per executed notebook and the summary page, sharing one stylesheet.

Pages open offline (no script, font or stylesheet from the network), carry the notebook's title and a link back
to the summary, explain papermill's injected-parameters cell, and leave out what only the machine that ran them
cares about (stderr: progress bars and warnings; its folder paths).
"""
from __future__ import annotations

import base64
import copy
import html
from pathlib import Path

from .fileio import atomic_path
from .notebook_files import INJECTED_TAG
from .paths import data_dir, repo_root
from .tables import data_note

REPORT_TAG = "report"
STYLESHEET = "style.css"
INJECTED_NOTE = ("The cell below was added by the batch run (`hgn reproduce`, through papermill): its values "
                 "override the defaults of the parameters cell above, so this page shows the **{profile}** "
                 "profile on the **{data}** data.")

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:1em;line-height:1.45}
img{max-width:100%;height:auto} pre{background:#f6f6f6;padding:.5em;overflow-x:auto;white-space:pre}
table{border-collapse:collapse;font-size:.85em} td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
caption{text-align:left;caption-side:top;white-space:normal;padding:.3em 0}
.scroll,.output_html,.output_subarea{max-width:100%;overflow-x:auto}
.meta{color:#555} nav.back{margin-bottom:1em} nav.pages{font-size:.9em;margin:.5em 0 1em}
section{border-top:2px solid #ddd;margin-top:1.5em}
.note{background:#fff4d6;padding:.6em;border:1px solid #e6c96a}
.prompt{display:none} .input_area{border-left:3px solid #9bc;margin:.5em 0}
.input_area pre{margin:0} .celltag_injected-parameters .input_area{border-left-color:#e6a23c}
.text_cell_render{margin:1em 0}
"""


def stylesheet() -> str:
    """The shared CSS: the layout above and pygments' colours for code."""
    from pygments.formatters import HtmlFormatter

    return _CSS + HtmlFormatter().get_style_defs(".highlight")


def write_stylesheet(out: Path) -> None:
    with atomic_path(Path(out) / STYLESHEET) as tmp:
        tmp.write_text(stylesheet())


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}</title><link rel="stylesheet" href="{STYLESHEET}"></head>'
            f"<body>\n{body}\n</body></html>\n")


def _clean_text(text: str) -> str:
    """Stream text with this machine's folders replaced by their names in the docs."""
    for folder, name in ((data_dir().resolve(), "$HGN_DATA_DIR"), (repo_root().resolve(), "<repo>")):
        text = text.replace(str(folder), name)
    return text


def for_page(notebook, data: str, profile: str):
    """A copy of an executed notebook as its page shows it: no stderr, no machine paths, the injection explained
    (in a cell of fixed id, so that a page rendered again from the same notebook is the same file)."""
    import nbformat

    nb = copy.deepcopy(notebook)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if not (o.output_type == "stream" and
                                                                       o.get("name") == "stderr")]
            for output in cell.outputs:
                if output.output_type == "stream":
                    output.text = _clean_text(output.text)
            if INJECTED_TAG in cell.metadata.get("tags", []):
                note = nbformat.v4.new_markdown_cell(INJECTED_NOTE.format(profile=profile, data=data))
                note.id = f"{INJECTED_TAG}-note"
                cells.append(note)
        cells.append(cell)
    nb.cells = cells
    return nb


def notebook_title(notebook) -> str:
    """The first markdown heading of a notebook."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def notebook_page(notebook, name: str, data: str, profile: str) -> str:
    """The full HTML page of an executed notebook."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="basic").from_notebook_node(for_page(notebook, data, profile))
    title = notebook_title(notebook) or name
    back = (f'<nav class="back"><a href="index.html">&larr; Summary: HGN reproduction ({html.escape(data)}, '
            f'{html.escape(profile)})</a> &middot; {html.escape(name)}</nav>')
    return _page(f"{title} | HGN reproduction", back + body)


def report_outputs(notebook) -> list[str]:
    """HTML fragments of the outputs of the cells tagged ``report``: tables, figures, printed text."""
    fragments = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or REPORT_TAG not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.get("name") == "stdout":
                fragments.append(f"<pre>{html.escape(_clean_text(output.text))}</pre>")
            elif output.output_type in ("display_data", "execute_result"):
                data = output.get("data", {})
                if "image/png" in data:
                    png = data["image/png"]
                    png = png if isinstance(png, str) else base64.b64encode(png).decode()
                    fragments.append(f'<img alt="figure" src="data:image/png;base64,{png.strip()}">')
                elif "text/html" in data:
                    fragments.append(f'<div class="scroll">{data["text/html"]}</div>')
                elif "text/plain" in data:
                    fragments.append(f"<pre>{html.escape(data['text/plain'])}</pre>")
    return fragments


#: Notebooks whose tagged outputs open the summary page (the rest follow in notebook order): the paper's claims.
HEADLINE_NOTEBOOKS = ("13_claims.ipynb",)


def _update_line(update: dict) -> str:
    """A line of the summary page for a later render of some notebooks only (``run.json``'s ``updates``)."""
    names = ", ".join(update["notebooks"])
    return (f'<p class="meta">Re-executed {html.escape(update["finished"])}: {html.escape(names)} only '
            f'({update["total_seconds"]} s); the other pages are from the render above.</p>')


def summary_page(summary: dict, done: list[dict]) -> str:
    """The summary page: the headline tables and figures first (the paper's claims judged, then every notebook's
    tagged outputs in order), every full page linked."""
    data, profile = summary["data"], summary["profile"]
    nav = " &middot; ".join(f'<a href="{html.escape(d["html"])}">{html.escape(d["title"] or d["notebook"])}</a>'
                            for d in done)
    sections = [f'<section><h2><a href="{html.escape(d["html"])}">{html.escape(d["title"] or d["notebook"])}'
                f'</a></h2><p class="meta">{html.escape(d["notebook"])}, executed in {d["seconds"]} s; '
                f'<a href="{html.escape(d["html"])}">full page</a></p>{"".join(d["report"])}</section>'
                for d in sorted(done, key=lambda d: d["notebook"] not in HEADLINE_NOTEBOOKS) if d["report"]]
    body = f"""<h1>HGN reproduction: data = {html.escape(data)}, profile = {html.escape(profile)}</h1>
<p class="note">The numbers labelled "ours" come from {html.escape(data_note(data, profile).removeprefix("ours: "))}.
The paper's values are quoted from Li et al., BMVC 2021, for comparison only.</p>
<nav class="pages">Full pages: {nav}</nav>
{"".join(sections)}
<p class="meta">Finished {html.escape(summary["finished"])}; {summary["total_seconds"]} s in all, of which
{summary["pretrain_seconds"]} s training the runs up front ({summary["jobs"]} worker processes).</p>
{"".join(_update_line(u) for u in summary.get("updates", []))}"""
    return _page(f"HGN reproduction: {data}, {profile}", body)
