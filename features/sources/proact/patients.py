"""PRO-ACT demographics, ALS history, riluzole and El Escorial forms -> the ``patients`` raw table.

Policies (see ``docs/proact.md``):

* ``age_at_onset_years`` = ``Age`` (years at trial day 0) + ``Onset_Delta`` / 365.25; when ``Age`` is missing and
  ``Date_of_Birth`` is given (days from trial day 0, negative), ``Age`` = -``Date_of_Birth`` / 365.25. The
  date-of-birth offset itself is never stored.
* Site of onset: "Onset: Bulbar" -> bulbar, "Onset: Limb" -> limb, "Onset: Limb and Bulbar" -> bulbar (bulbar
  involvement drives prognosis; counted in a note), "Onset: Spine" / "Onset: Other" -> other; or the one-hot
  ``Site_of_Onset___*`` columns with the same rules. Text and flags that disagree leave the row's site out.
* A patient-level form may hold several rows per subject (PRO-ACT's ALS history often splits site and dates
  over rows): rows that agree give the value, rows that contradict each other give no value and an exclusion
  record. A patient without a usable age, onset day or site of onset cannot enter ``patients`` (all three are
  required) and is excluded with every missing item named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import spec as S
from features.sources.proact.common import (
    DAYS_PER_YEAR,
    Exclusions,
    RowFilter,
    coalesce_per_patient,
    naming,
    normalise_text,
    parse_days,
    parse_numbers,
)
from features.sources.proact.files import ONSET_FLAGS, Form

SEX_MAP = {"male": "male", "female": "female"}
RILUZOLE_MAP = {"yes": True, "no": False}
FLAG_TRUE = {"1", "1.0", "true", "yes", "y"}
FLAG_FALSE = {"0", "0.0", "false", "no", "n"}


@dataclass
class PatientPart:
    """Patient-level fields derived from the patient forms, before visits and contact days are known."""

    table: pd.DataFrame  # indexed by patient_id; spec columns except height_cm and last_contact_day
    known: pd.Index  # every subject named in demographics or ALS history (imported or not)
    combined_onset: int  # patients whose "Limb and Bulbar" onset was mapped to bulbar
    notes: list[str]


def build_patient_part(
    demographics: Form, history: Form, riluzole: Form | None, elescorial: Form | None, exclusions: Exclusions
) -> PatientPart:
    """Derive one row per patient from the patient-level forms (see the module docstring for the policies)."""
    notes: list[str] = []
    demo = RowFilter(demographics, exclusions)
    demo.drop_missing_subject()
    hist = RowFilter(history, exclusions)
    hist.drop_missing_subject()
    age = _age_years(demo.branch())
    sex = _sex(demo.branch(), notes)
    onset_day, diagnosis_day = _history_days(hist)
    site, combined = _onset_site(hist.branch())

    known = pd.Index(pd.unique(np.concatenate([demographics.subjects(), history.subjects()])), dtype=object)
    known = known[known.notna()]
    in_demo = known.isin(pd.Index(demographics.subjects()))
    in_hist = known.isin(pd.Index(history.subjects()))
    frame = pd.DataFrame(index=known)
    frame["age"] = age.reindex(known).astype("float64")
    frame["onset_day"] = onset_day.reindex(known).astype("float64")
    frame["diagnosis_day"] = diagnosis_day.reindex(known).astype("float64")
    frame["onset_site"] = site.reindex(known)
    frame["sex"] = sex.reindex(known)
    frame["age_at_onset_years"] = frame["age"] + frame["onset_day"] / DAYS_PER_YEAR

    # A diagnosis before onset is a data error in one of the two days; only the optional one is left out.
    onset, diagnosis = frame["onset_day"].to_numpy(), frame["diagnosis_day"].to_numpy()
    early = diagnosis < onset
    for pid, d, o in zip(frame.index[early], diagnosis[early], onset[early], strict=True):
        exclusions.add_one(
            history.file, None, pid, f"Diagnosis_Delta ({d:.0f}) before Onset_Delta ({o:.0f}); diagnosis day left out"
        )
    frame.loc[early, "diagnosis_day"] = np.nan

    aoo = frame["age_at_onset_years"].to_numpy()
    field = S.PATIENTS.field("age_at_onset_years")
    problems = np.full(len(known), "", dtype=object)
    for mask, text in (
        (~in_demo, f"not in {demographics.file}"),
        (~in_hist, f"not in {history.file}"),
        (in_demo & frame["age"].isna().to_numpy(), "no usable Age or Date_of_Birth (demographics)"),
        (in_hist & frame["onset_day"].isna().to_numpy(), "no usable Onset_Delta (ALS history)"),
        (in_hist & frame["onset_site"].isna().to_numpy(), "no usable site of onset (ALS history)"),
        ((aoo < (field.lower or 0)) | (aoo > (field.upper or np.inf)), f"age at onset {field.bounds_text()}"),
    ):
        problems[mask] = np.where(problems[mask] == "", text, problems[mask] + "; " + text)
    bad = problems != ""
    if bad.any():
        exclusions.add("patients", np.full(int(bad.sum()), -1), known[bad].to_numpy(dtype=object), problems[bad])
    frame = frame[~bad]

    patients = frame.index
    frame["riluzole"] = pd.NA
    frame["el_escorial"] = np.nan
    if riluzole is not None:
        frame["riluzole"] = _riluzole(riluzole, exclusions, patients, known).reindex(patients)
    if elescorial is not None:
        frame["el_escorial"] = _el_escorial(elescorial, exclusions, patients, known).reindex(patients)
    if riluzole is None:
        notes.append("no Riluzole file: riluzole left missing for every patient")
    if elescorial is None:
        notes.append("no El Escorial file: el_escorial left missing for every patient")
    frame["c9orf72"] = np.nan  # PRO-ACT has no C9orf72 genotype
    frame["ftd"] = np.nan  # nor an FTD diagnosis
    frame.index.name = "patient_id"
    n_combined = int(combined.reindex(frame.index).fillna(False).astype(bool).sum())
    return PatientPart(frame.drop(columns=["age"]), known, n_combined, notes)


def _age_years(rf: RowFilter) -> pd.Series:
    """Age at trial day 0 (years) per patient: ``Age``, else -``Date_of_Birth`` / 365.25."""
    form, exclusions = rf.form, rf.exclusions
    age_text, dob_text = form.text("Age"), form.text("Date_of_Birth")
    age, age_bad = parse_numbers(age_text)
    dob, dob_bad = parse_numbers(dob_text)
    rf.flag(age_bad, naming(age_text, "Age is not a number: {v}; left out"))
    use_dob = np.isnan(age)
    rf.flag(use_dob & dob_bad, naming(dob_text, "Date_of_Birth is not a number: {v}; left out"))
    born_after = use_dob & (dob > 0)
    rf.flag(born_after, naming(dob_text, "Date_of_Birth {v} is after trial day 0; left out"))
    dob = np.where(born_after, np.nan, dob)
    years = np.where(use_dob, -dob / DAYS_PER_YEAR, age)
    return coalesce_per_patient(
        rf.subjects, years, rf.keep, label="age (Age / Date_of_Birth)", file=form.file, exclusions=exclusions
    )


def _sex(rf: RowFilter, notes: list[str]) -> pd.Series:
    form, exclusions = rf.form, rf.exclusions
    if not form.has("Sex"):
        notes.append(f"{form.file} has no Sex column: sex left missing for every patient")
        return pd.Series(dtype=object)
    text = form.text("Sex")
    mapped = normalise_text(text).map(SEX_MAP)
    rf.flag(
        text.notna().to_numpy() & mapped.isna().to_numpy(),
        naming(text, "unrecognised Sex {v} (expected Male or Female); left out"),
    )
    return coalesce_per_patient(rf.subjects, mapped, rf.keep, label="Sex", file=form.file, exclusions=exclusions)


def _history_days(rf: RowFilter) -> tuple[pd.Series, pd.Series]:
    """Onset and diagnosis days per patient (negative days before trial day 0)."""
    form, exclusions = rf.form, rf.exclusions
    out = []
    for column in ("Onset_Delta", "Diagnosis_Delta"):
        # Each day is checked on its own: a bad diagnosis day must not discard the onset day of the same row.
        sub = rf.branch()
        days = parse_days(sub, column, required=False)
        if column == "Onset_Delta":
            text = form.text(column)
            late = sub.drop(days > 0, naming(text, "Onset_Delta {v} is after trial day 0"))
            days = np.where(late, np.nan, days)
        days = np.where(sub.keep, days, np.nan)
        out.append(
            coalesce_per_patient(rf.subjects, days, rf.keep, label=column, file=form.file, exclusions=exclusions)
        )
    return out[0], out[1]


_SITE_ANSWERS = {"bulbar": "bulbar", "limb": "limb", "spine": "other", "other": "other", "respiratory": "respiratory"}
_ONSET_PREFIX = re.compile(r"^onset\s*:\s*")


def site_of_onset(answer: str) -> str | None:
    """Map one normalised ``Site_of_Onset`` answer ("onset: limb and bulbar" ...) to the spec's onset_site.

    "Limb and Bulbar" -> bulbar: bulbar involvement drives prognosis (shorter survival; Chio 2009), so a patient with
    both is grouped with bulbar onset. "Spine" is a separate answer from "Limb" on the PRO-ACT form (trunk / axial
    onset), hence other.
    """
    core = _ONSET_PREFIX.sub("", answer)
    if "limb" in core and "bulbar" in core:
        return "bulbar"
    return _SITE_ANSWERS.get(core)


def _site_from_text(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (site or None, whether the answer was "Limb and Bulbar")."""
    answers = normalise_text(text)
    site = np.array([None if a is None else site_of_onset(a) for a in answers], dtype=object)
    both = np.array([a is not None and "limb" in a and "bulbar" in a for a in answers], dtype=bool)
    return site, both


def _onset_site(rf: RowFilter) -> tuple[pd.Series, pd.Series]:
    """Site of onset per patient, and per patient whether it came from a "Limb and Bulbar" answer."""
    form, exclusions = rf.form, rf.exclusions
    text = form.text("Site_of_Onset")
    site, both = _site_from_text(text)
    rf.flag(text.notna().to_numpy() & pd.isna(site), naming(text, "unrecognised Site_of_Onset {v}; left out"))

    flags: dict[str, np.ndarray] = {}
    for column in ONSET_FLAGS:
        if not form.has(column):
            continue
        raw = form.text(column)
        norm = normalise_text(raw)
        on = norm.isin(FLAG_TRUE).to_numpy()
        odd = raw.notna().to_numpy() & ~on & ~norm.isin(FLAG_FALSE).to_numpy()
        rf.flag(odd, naming(raw, f"{column} is not a 0/1 flag: {{v}}; left out"))
        flags[column.rsplit("___", 1)[1].lower()] = on
    none = np.zeros(len(form), dtype=bool)
    bulbar, limb = flags.get("bulbar", none), flags.get("limb", none)
    combined = flags.get("limb_and_bulbar", none) | (bulbar & limb)
    chosen = np.select(
        [combined | bulbar, limb, flags.get("spine", none) | flags.get("other", none)],
        ["bulbar", "limb", "other"],
        default="",
    )
    flag_site = chosen.astype(object)
    flag_site[chosen == ""] = None

    disagree = pd.notna(site) & pd.notna(flag_site) & (site != flag_site)
    rf.flag(disagree, naming(text, "Site_of_Onset {v} disagrees with the Site_of_Onset___* flags; left out"))
    final = np.where(pd.notna(site), site, flag_site)
    final[disagree] = None
    from_combined = np.where(pd.notna(site), both, combined)
    per_patient = coalesce_per_patient(
        rf.subjects, final, rf.keep, label="site of onset", file=form.file, exclusions=exclusions
    )
    frame = pd.DataFrame({"s": rf.subjects, "c": from_combined & pd.notna(final) & rf.keep})
    combined_any = frame.groupby("s")["c"].any()
    return per_patient, combined_any


def _riluzole(form: Form, exclusions: Exclusions, patients: pd.Index, known: pd.Index) -> pd.Series:
    rf = RowFilter(form, exclusions)
    rf.drop_missing_subject()
    rf.drop_unknown_patients(patients, known)
    text = form.text("Subject_used_Riluzole")
    answer = normalise_text(text)
    rf.drop(text.isna().to_numpy(), "missing Subject_used_Riluzole")
    rf.drop(
        ~answer.isin(list(RILUZOLE_MAP)).to_numpy(),
        naming(text, "unrecognised Subject_used_Riluzole {v} (expected Yes or No)"),
    )
    # Coalesce the answers (not the booleans) so that a conflict is reported as "no, yes".
    values = coalesce_per_patient(
        rf.subjects, answer, rf.keep, label="Subject_used_Riluzole", file=form.file, exclusions=exclusions
    )
    return values.map(RILUZOLE_MAP).astype("boolean") if len(values) else pd.Series(dtype="boolean")


def el_escorial_category(answer: str) -> str | None:
    """Map one normalised El Escorial answer to the spec's category (None when unrecognised).

    "Definite" / "Clinically definite" -> definite; "Probable laboratory-supported" (any spelling with "probable"
    and "lab") -> probable_lab; "Probable" -> probable; "Possible" -> possible; "Unknown" -> unknown. "Suspected"
    (dropped from the revised criteria, Brooks 2000) and anything else is not mapped.
    """
    if "definite" in answer:
        return "definite"
    if "probable" in answer:
        return "probable_lab" if "lab" in answer else "probable"
    if "possible" in answer:
        return "possible"
    return "unknown" if answer == "unknown" else None


def _el_escorial(form: Form, exclusions: Exclusions, patients: pd.Index, known: pd.Index) -> pd.Series:
    rf = RowFilter(form, exclusions)
    rf.drop_missing_subject()
    rf.drop_unknown_patients(patients, known)
    text = form.text("el_escorial")
    mapped = np.array([None if a is None else el_escorial_category(a) for a in normalise_text(text)], dtype=object)
    rf.drop(text.isna().to_numpy(), "missing el_escorial")
    rf.drop(pd.isna(mapped), naming(text, "unrecognised el_escorial {v}"))
    return coalesce_per_patient(
        rf.subjects, mapped, rf.keep, label="el_escorial", file=form.file, exclusions=exclusions
    )
