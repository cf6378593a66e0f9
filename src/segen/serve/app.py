"""The Gradio page: Segment, Generate and Runs tabs wired to the work in `segment`, `generate` and `runs`.

Every handler turns a segen error (a bad upload, a limit, an unknown name) into one line in the page's status
field and returns; the server keeps serving. The browser only picks names from the catalog's lists.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
import gradio as gr

from segen.data.io import IMAGE_SUFFIXES
from segen.errors import SegenError
from segen.serve import generate, runs
from segen.serve.catalog import Catalog
from segen.serve.segment import Limits, legend_html, render_overlay, segment_upload, with_tta

TTA_MODES = ["none", "hflip", "flip", "d4"]
CSS = """
.legend td, .legend th { padding: 2px 8px; }
.legend .num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 14px; height: 14px; border: 1px solid #888; vertical-align: middle; }
.status-error { color: #b00020; font-weight: 600; }
"""


def error_line(exc: BaseException) -> str:
    """One line for the page: the error's message, its first line only."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f'<p class="status-error" role="alert">error: {escape(text)}</p>'


def _hex(color: tuple[int, int, int] | list[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color[:3])


OnLoad = tuple[Any, Any, list[Any]]


class App:
    """The page and its handlers over one catalog; outputs go to files under `workdir`."""

    def __init__(self, catalog: Catalog, limits: Limits, workdir: Path) -> None:
        self.catalog, self.limits, self.workdir = catalog, limits, workdir

    # -- Segment ------------------------------------------------------------------------------------

    def segment(self, model: str | None, upload: str | None, tta: str, probabilities: bool, opacity: float,
                progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (how Gradio asks for progress)
        """Predict the uploaded file: (overlay, status, legend, downloads, state)."""
        try:
            if not upload:
                raise SegenError("choose an image to upload first", kind="missing")
            segmenter = with_tta(self.catalog.segmenter(model), tta)
            progress(0.0, desc="segmenting")
            result = segment_upload(segmenter, Path(upload), Path(upload).name, self.workdir, self.limits,
                                    probabilities, lambda done: progress(done, desc="tiles"))
        except (SegenError, ValueError) as exc:
            return None, error_line(exc), "", None, None
        state = (result, segmenter.palette, segmenter.info.ignore_index)
        files = [str(result.mask_file)] + ([str(result.probabilities_file)] if result.probabilities_file else [])
        return (render_overlay(result, segmenter.palette, opacity, segmenter.info.ignore_index), "",
                legend_html(result), files, state)

    @staticmethod
    def reblend(state: Any, opacity: float) -> Any:
        """The overlay again at a new opacity, without predicting again."""
        if state is None:
            return gr.update()
        result, palette, ignore = state
        return render_overlay(result, palette, opacity, ignore)

    # -- Generate -----------------------------------------------------------------------------------

    def _palette(self, model: str | None) -> list[tuple[int, int, int]]:
        generator = self.catalog.generator(model)
        return list(generator.info.palette)

    def sample(self, model: str | None, seed: float | None, count: float, class_name: str | None
               ) -> tuple[Any, ...]:
        try:
            image, path = generate.sample(self.catalog.generator(model), int(seed or 0), int(count), class_name,
                                          self.workdir)
        except (SegenError, ValueError) as exc:
            return None, None, error_line(exc)
        return image, str(path), ""

    def translate_upload(self, model: str | None, upload: str | None) -> tuple[Any, ...]:
        try:
            if not upload:
                raise SegenError("choose a label map to upload first", kind="missing")
            image, path = generate.translate_upload(self.catalog.generator(model), Path(upload), Path(upload).name,
                                                    self.workdir, self.limits)
        except (SegenError, ValueError) as exc:
            return None, None, error_line(exc)
        return image, str(path), ""

    def translate_drawing(self, model: str | None, drawing: dict[str, Any] | None) -> tuple[Any, ...]:
        try:
            composite = drawing.get("composite") if isinstance(drawing, dict) else None
            image, path = generate.translate_drawing(self.catalog.generator(model), composite,
                                                     self._palette(model), self.workdir, self.limits)
        except (SegenError, ValueError) as exc:
            return None, None, error_line(exc)
        return image, str(path), ""

    def generator_controls(self, model: str | None) -> tuple[Any, ...]:
        """Show the controls that fit the chosen generator: seed and class, or the pix2pix inputs."""
        try:
            generator = self.catalog.generator(model)
        except SegenError:
            return gr.update(), gr.update(), gr.update(), gr.update()
        info = generator.info
        image = info.conditioning == "image"
        palette = self._palette(model)
        classes = gr.update(choices=info.class_names, value=info.class_names[0] if info.class_names else None,
                            visible=info.conditioning == "class")
        canvas = gr.update(value=generate.blank_canvas(generator, palette),
                           brush=gr.Brush(colors=[_hex(c) for c in palette] or None,
                                          default_color=_hex(palette[1] if len(palette) > 1 else (255, 255, 255)),
                                          color_mode="fixed" if palette else "defaults"))
        return gr.update(visible=not image), gr.update(visible=image), classes, canvas

    # -- Runs ---------------------------------------------------------------------------------------

    def list_runs(self) -> Any:
        names = self.catalog.run_names()
        return gr.update(choices=names, value=names[0] if names else None)

    def show_run(self, name: str | None) -> tuple[Any, ...]:
        """(curves, metrics table, sample grids, report, status) of a run."""
        try:
            run = self.catalog.run(name)
            history = runs.read_history(run)
            headers, rows = runs.metrics_table(history)
            report = runs.report_html(run)
        except (SegenError, OSError, ValueError) as exc:
            return None, None, _gallery([]), "", error_line(exc)
        table = gr.update(value=rows, headers=headers) if rows else None
        frame = (f'<iframe title="run report" style="width:100%;height:800px;border:1px solid #ccc" '
                 f'srcdoc="{escape(report, quote=True)}"></iframe>' if report else "<p>This run has no report yet: "
                 "press <b>Write report</b>.</p>")
        return str(runs.curves(history, self.workdir)), table, _gallery(runs.sample_grids(run)), frame, ""

    def write_report(self, name: str | None) -> tuple[Any, ...]:
        try:
            from segen.inference.run_report import write_run_report

            write_run_report(self.catalog.run(name))
        except (SegenError, OSError, ValueError) as exc:
            return None, None, _gallery([]), "", error_line(exc)
        return self.show_run(name)


def _gallery(grids: list[tuple[Any, str]]) -> Any:
    """The sample-grid gallery showing `grids`, hidden when there are none (segmentation runs)."""
    return gr.update(value=grids, visible=bool(grids))


def build_app(catalog: Catalog, limits: Limits, workdir: Path, concurrency: int = 1, queue_size: int = 64
              ) -> gr.Blocks:
    """The page over `catalog`, its queue running `concurrency` requests at once and holding `queue_size`."""
    app = App(catalog, limits, workdir)
    with gr.Blocks(title="segen", analytics_enabled=False, delete_cache=(1800, 3600)) as blocks:
        gr.Markdown("# segen\nSegment images, generate images and look at training runs.")
        if catalog.segmenters:
            with gr.Tab("Segment", id="segment"):
                _segment_tab(app, catalog)
        loads = []
        if catalog.generators:
            with gr.Tab("Generate", id="generate"):
                loads.append(_generate_tab(app, catalog))
        if catalog.runs_root is not None:
            with gr.Tab("Runs", id="runs"):
                loads.append(_runs_tab(app, catalog))
        for handler, inputs, outputs in loads:  # the controls of the first generator, the first run
            blocks.load(handler, inputs, outputs, api_visibility="private")
    blocks.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    return blocks


def _segment_tab(app: App, catalog: Catalog) -> None:
    names = list(catalog.segmenters)
    with gr.Row():
        with gr.Column():
            model = gr.Dropdown(names, value=names[0] if names else None, label="checkpoint", elem_id="seg-model")
            upload = gr.File(label=f"image ({', '.join(IMAGE_SUFFIXES)}; 16-bit TIFF and PNG too)",
                             file_types=list(IMAGE_SUFFIXES), type="filepath", elem_id="seg-upload")
            tta = gr.Radio(TTA_MODES, value="none", label="test-time augmentation", elem_id="seg-tta")
            probabilities = gr.Checkbox(label="also the probabilities (.npy)", elem_id="seg-probs")
            run = gr.Button("Segment", variant="primary", elem_id="seg-run")
            status = gr.HTML(elem_id="seg-status")
        with gr.Column():
            shown = gr.Image(label="overlay", type="numpy", format="png", interactive=False, height=420,
                             elem_id="seg-overlay")
            opacity = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="opacity", elem_id="seg-opacity")
            legend = gr.HTML(elem_id="seg-legend")
            downloads = gr.File(label="mask and probabilities", file_count="multiple", interactive=False,
                                elem_id="seg-downloads")
    state = gr.State()
    run.click(app.segment, [model, upload, tta, probabilities, opacity], [shown, status, legend, downloads, state],
              api_name="segment")
    opacity.release(app.reblend, [state, opacity], shown, api_visibility="private", queue=False)


def _generate_tab(app: App, catalog: Catalog) -> OnLoad:
    names = list(catalog.generators)
    model = gr.Dropdown(names, value=names[0] if names else None, label="checkpoint", elem_id="gen-model")
    with gr.Row():
        with gr.Column():
            with gr.Group(visible=True) as noise:
                seed = gr.Number(value=0, precision=0, minimum=0, label="seed", elem_id="gen-seed")
                count = gr.Slider(1, generate.MAX_SAMPLES, value=16, step=1, label="images", elem_id="gen-count")
                class_name = gr.Dropdown([], label="class", visible=False, elem_id="gen-class")
                sample = gr.Button("Generate", variant="primary", elem_id="gen-run")
            with gr.Group(visible=False) as image:
                upload = gr.File(label="label map to translate", file_types=list(IMAGE_SUFFIXES), type="filepath",
                                 elem_id="gen-upload")
                translate = gr.Button("Translate the upload", elem_id="gen-translate")
                canvas = gr.ImageEditor(label="or draw a label map in the dataset's colours", type="numpy",
                                        image_mode="RGB", elem_id="gen-canvas")
                draw = gr.Button("Translate the drawing", elem_id="gen-draw")
            status = gr.HTML(elem_id="gen-status")
        with gr.Column():
            shown = gr.Image(label="generated", type="numpy", format="png", interactive=False, height=420,
                             elem_id="gen-image")
            download = gr.File(label="PNG", interactive=False, elem_id="gen-download")
    outputs = [shown, download, status]
    sample.click(app.sample, [model, seed, count, class_name], outputs, api_name="sample")
    translate.click(app.translate_upload, [model, upload], outputs, api_name="translate")
    draw.click(app.translate_drawing, [model, canvas], outputs, api_name="translate_drawing")
    controls = [noise, image, class_name, canvas]
    model.change(app.generator_controls, model, controls, api_visibility="private")
    return app.generator_controls, model, controls


def _runs_tab(app: App, catalog: Catalog) -> OnLoad:
    names = catalog.run_names()
    with gr.Row():
        run = gr.Dropdown(names, value=names[0] if names else None, label="run", elem_id="runs-pick", scale=4)
        refresh = gr.Button("Refresh the list", elem_id="runs-refresh", scale=1)
        report = gr.Button("Write report", elem_id="runs-report", scale=1)
    status = gr.HTML(elem_id="runs-status")
    curves = gr.Image(label="curves", type="filepath", interactive=False, elem_id="runs-curves")
    table = gr.Dataframe(label="metrics per epoch", interactive=False, elem_id="runs-table")
    grids = gr.Gallery(label="sample grids", columns=4, visible=False, elem_id="runs-grids")
    page = gr.HTML(elem_id="runs-report-page")
    outputs = [curves, table, grids, page, status]
    run.change(app.show_run, run, outputs, api_name="run")
    refresh.click(app.list_runs, None, run, api_visibility="private")
    report.click(app.write_report, run, outputs, api_name="write_report")
    return app.show_run, run, outputs
