"""The PRO-ACT importer: a PRO-ACT export folder -> the native raw tables (patients, visits, biomarkers, events).

PRO-ACT (Pooled Resource Open-Access ALS Clinical Trials) exports one CSV per form, joined on ``subject_id``,
with every time as ``*_Delta`` days from trial day 0 (our index day 0; pre-trial events are negative). The
mapping of each form, every quirk and the policy chosen for it are in ``docs/proact.md``; in short:

* ``features.sources.proact.files``: which file holds which form (2016, ``PROACT_*`` and ``F_PROACT_*`` names, any
  capitalisation), the required columns, reading every cell as text;
* ``features.sources.proact.patients``: demographics, ALS history, riluzole, El Escorial -> ``patients``;
* ``features.sources.proact.visits``: ALSFRS(-R), FVC, vital signs -> ``visits`` (and heights);
* ``features.sources.proact.biomarkers``: Labs and Neurofilament -> ``biomarkers``; DeathData -> ``events``.

Every input record lands in a raw table, is counted as not used (tests outside the spec, forms the spec does
not cover), or becomes an :class:`~features.cohort.table.ExcludedRecord` with its reason. The result is validated
with :func:`features.contracts.validate_tables`, so it is typed exactly like the native source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features import spec as S
from features.cohort.table import ImportReport
from features.contracts import validate_tables
from features.sources.proact.biomarkers import death_events, lab_biomarkers, neurofilament_biomarkers
from features.sources.proact.common import Exclusions, valid_days
from features.sources.proact.files import FORMS, Form, read_forms
from features.sources.proact.patients import build_patient_part
from features.sources.proact.visits import alsfrs_visits, fvc_visits, merge_visits, vital_signs

CONTACT_FORMS = ("alsfrs", "fvc", "svc", "vitalsigns", "labs", "neurofilament", "handgripstrength", "musclestrength")
"""Forms whose rows are dated assessments of the patient: their days define the last contact day."""


def load_proact(folder: str | Path) -> tuple[dict[str, pd.DataFrame], ImportReport]:
    """Read a PRO-ACT export folder and map it into the native raw tables.

    Parameters
    ----------
    folder : path
        Folder holding the export's CSV files. Required: ALSFRS, ALS history and demographics; optional:
        DeathData, Fvc, VitalSigns, Labs, Riluzole, El Escorial, Neurofilament (newest ``F_PROACT_`` release), and
        Svc / hand-grip / muscle-strength (used only for the last contact day). File and column names are matched
        case-insensitively (``docs/proact.md`` lists them).

    Returns
    -------
    tables : dict of str to DataFrame
        ``patients``, ``visits``, ``biomarkers``, ``events``, typed and validated by
        :func:`features.contracts.validate_tables`. Days are days from trial day 0; FVC in % predicted, weight in
        kg, height in cm, ALSFRS-R 0-48; biomarker values in the unit given in the export.
    report : ImportReport
        ``source="proact"``; ``counts`` (rows read per form, rows used, rows not used, output rows),
        ``excluded`` (one record per excluded row or value, with its reason) and ``notes`` (policies that changed
        or removed data, with how many records they touched).

    Raises
    ------
    FeatureDataError
        A missing folder, a missing required file, two files for one form, an unreadable CSV file or a missing
        required column (file and column named, every problem at once); or, should the mapped tables break the
        raw-table contract, every violation.
    """
    folder = Path(folder)
    forms, discovery = read_forms(folder)
    exclusions = Exclusions()
    counts: dict[str, int] = {f"rows_read_{key}": len(form) for key, form in sorted(forms.items())}
    notes: list[str] = []
    _count_unused_forms(forms, counts, notes)
    latest: list[pd.Series] = []  # latest usable assessment day per subject, one series per dated form

    def release(key: str) -> Form | None:
        # A processed form is dropped at once: the lab file alone holds a million rows of text.
        form = forms.pop(key, None)
        if form is not None and key in CONTACT_FORMS:
            latest.append(_latest_day(form, notes))
        return form

    part = build_patient_part(
        forms["demographics"], forms["alshistory"], forms.get("riluzole"), forms.get("elescorial"), exclusions
    )
    for key in (
        "demographics",
        "alshistory",
        "riluzole",
        "elescorial",
        "svc",
        "handgripstrength",
        "musclestrength",
        "treatment",
        "familyhistory",
        "conmeds",
        "adverseevents",
    ):
        release(key)
    notes += part.notes
    patients, known = part.table.index, part.known
    if part.combined_onset:
        notes.append(
            f"{part.combined_onset} patients with onset 'Limb and Bulbar' were mapped to onset_site "
            "bulbar (bulbar involvement drives prognosis)"
        )

    visit_parts = [alsfrs_visits(forms["alsfrs"], patients, known, exclusions, counts, notes)]
    release("alsfrs")
    heights = pd.Series(dtype="float64")
    if "fvc" in forms:
        visit_parts.append(fvc_visits(forms["fvc"], patients, known, exclusions, counts, notes))
        release("fvc")
    else:
        notes.append("no FVC file: fvc_pct_pred left missing")
    if "vitalsigns" in forms:
        weights, heights = vital_signs(forms["vitalsigns"], patients, known, exclusions, counts, notes)
        visit_parts.append(weights)
        release("vitalsigns")
    else:
        notes.append("no VitalSigns file: weight_kg and height_cm left missing")
    visits = merge_visits(visit_parts)
    del visit_parts

    bio_parts = []
    if "labs" in forms:
        bio_parts.append(lab_biomarkers(forms["labs"], patients, known, exclusions, counts, notes))
        release("labs")
    if "neurofilament" in forms:
        bio_parts.append(neurofilament_biomarkers(forms["neurofilament"], patients, known, exclusions, counts))
        release("neurofilament")
    biomarkers = _concat(bio_parts, S.BIOMARKERS.names)

    if "deathdata" in forms:
        events = death_events(forms["deathdata"], patients, known, exclusions, counts)
        release("deathdata")
    else:
        events = pd.DataFrame(columns=list(S.EVENTS_TABLE.names))
        notes.append("no DeathData file: no events (every patient is censored at the last contact day)")

    table = part.table.copy()
    table["height_cm"] = heights.reindex(patients).to_numpy(dtype="float64")
    table["last_contact_day"] = _last_contact(latest, patients, notes).to_numpy()
    table = table.reset_index()[list(S.PATIENTS.names)].sort_values("patient_id", kind="stable")
    if discovery.ignored:
        notes.append("files not recognised as PRO-ACT forms, ignored: " + ", ".join(discovery.ignored))

    raw = {"patients": table.reset_index(drop=True), "visits": visits, "biomarkers": biomarkers, "events": events}
    tables = validate_tables(raw, context=f"PRO-ACT import of {folder}")
    excluded = exclusions.records()
    counts.update({name: len(frame) for name, frame in tables.items()})
    counts["excluded_records"] = len(excluded)
    return tables, ImportReport(source="proact", counts=counts, excluded=excluded, notes=notes)


def _concat(parts: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(columns))
    frame = pd.concat(parts, ignore_index=True)[list(columns)]
    # A stable order that does not depend on which form (Labs or Neurofilament) a measurement came from.
    return frame.sort_values(["patient_id", "day", "analyte", "matrix"], kind="stable").reset_index(drop=True)


def _latest_day(form: Form, notes: list[str]) -> pd.Series:
    """Latest usable day per subject in one dated form (rows whose values were excluded still count: the patient
    was seen that day; unusable days, i.e. missing or sentinel, do not)."""
    column = FORMS[form.spec.key].day_column
    assert column is not None
    if not form.has(column):
        notes.append(f"{form.file} has no {column} column: not used for the last contact day")
        return pd.Series(dtype="float64")
    days = valid_days(form, column)
    ok = ~np.isnan(days) & pd.notna(form.subjects())
    frame = pd.DataFrame({"s": form.subjects()[ok], "d": days[ok]})
    return frame.groupby("s", sort=False)["d"].max()


def _last_contact(latest: list[pd.Series], patients: pd.Index, notes: list[str]) -> pd.Series:
    """Last contact day per patient: the latest usable day of any dated assessment, and at least day 0.

    Dated assessments are the rows of ALSFRS, FVC, SVC, vital signs, labs, neurofilament, hand-grip and muscle
    strength. Trial day 0 is itself a study contact (enrolment), so a patient with no assessment on or after day 0
    gets day 0 (counted in a note) and contributes no follow-up time.
    """
    per_form = [s for s in latest if len(s)]
    if per_form:
        best = pd.concat(per_form).groupby(level=0, sort=False).max().reindex(patients)
    else:
        best = pd.Series(np.nan, index=patients)
    none = int((best.isna() | (best < 0)).sum())
    if none:
        notes.append(
            f"{none} patients have no assessment on or after trial day 0: last_contact_day set to 0 "
            "(the enrolment contact)"
        )
    return best.fillna(0).clip(lower=0).astype("int64")


def _count_unused_forms(forms: dict[str, Form], counts: dict[str, int], notes: list[str]) -> None:
    for key, form in sorted(forms.items()):
        if FORMS[key].role == "mapped":
            continue
        counts[f"rows_not_used_{key}"] = len(form)
        use = "only its days count towards the last contact day" if FORMS[key].role == "contact" else "not used"
        notes.append(f"{form.file}: {len(form)} rows, not part of the spec ({use})")
