"""Human-readable outputs: figures (``plots``), model cards (``model_card``), the run's logged artefacts
(``run_report``) and the HTML comparison report (``compare_html``)."""
