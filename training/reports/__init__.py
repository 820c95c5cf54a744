"""Human-readable outputs: figures (``plots``, with the shared helper in ``figures``), model cards (``model_card``),
the run's logged artefacts (``run_report``) and the HTML comparison report (``compare_html``), all rendered from the
Jinja2 templates in ``templates/`` through ``document``, with numbers formatted by ``formatting``."""
