"""The literature-grounded cohort simulator: scenarios with sourced parameters (``scenario``, ``scenarios/*.yaml``)
and the generator of raw tables plus planted truth (``generate``)."""
