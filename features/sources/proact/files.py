"""PRO-ACT export folders: which file holds which form, which columns each form needs, and reading them.

PRO-ACT releases name the same forms differently: the 2016 archive (``alsfrs.csv``, ``AlsHistory.csv``,
``DeathData.csv`` ...), later releases (``PROACT_ALSFRS.csv``, ``PROACT_ALSHISTORY.csv`` ...) and the newest one
with an ``F_`` prefix (``F_PROACT_ALSFRS.csv``, ``F_PROACT_Neurofilament.csv`` ...). File and column names are
therefore matched on a *key*: lower case, the ``PROACT_``/``F_PROACT_`` prefix removed, every character other than
a letter or digit removed (``El_Escorial.csv`` and ``PROACT_ELESCORIAL.csv`` both give ``elescorial``;
``Subject_Liters__Trial_2_`` and ``Subject_Liters_Trial_2`` both give ``subjectliterstrial2``).

Every cell is read as text, so that nothing is coerced before the importer has decided what to do with it
(PRO-ACT lab results, for instance, mix numbers with ``"<5"`` and free text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from features.errors import FeatureDataError, Violation


def objects(series: pd.Series) -> np.ndarray:
    """The cells as an object array with None for missing values."""
    values: Any = series  # pandas-stubs do not accept na_value=None
    return np.asarray(values.to_numpy(dtype=object, na_value=None), dtype=object)


# Text that means "no value" in PRO-ACT CSV exports (pandas' defaults minus ambiguous words such as "None").
CSV_NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"]

Role = Literal["mapped", "contact", "unused"]
"""``mapped``: feeds the raw tables; ``contact``: only its visit days are used (last contact day);
``unused``: not part of the spec, its rows are only counted."""


@dataclass(frozen=True)
class Col:
    """One column of a PRO-ACT form: its data-dictionary name, accepted alternative names, and whether it is needed."""

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name_key(n) for n in (self.name, *self.aliases)))


@dataclass(frozen=True)
class FormSpec:
    """A PRO-ACT form (one CSV file).

    ``one_of`` lists groups of column names of which at least one must be present (e.g. ``Age`` or
    ``Date_of_Birth``); ``pairs`` lists (value column, unit column): when the value column is present its unit column
    must be present too, because a value without its unit is never interpreted.
    """

    key: str
    label: str
    role: Role
    required: bool = False
    columns: tuple[Col, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    day_column: str | None = None

    def expected_files(self) -> str:
        """The file names this form may have, for the "required file is missing" message."""
        stems = {
            "alsfrs": ("alsfrs", "ALSFRS"),
            "alshistory": ("AlsHistory", "ALSHISTORY"),
            "demographics": ("demographics", "DEMOGRAPHICS"),
        }.get(self.key, (self.label, self.key.upper()))
        return f"{stems[0]}.csv, PROACT_{stems[1]}.csv or F_PROACT_{stems[1]}.csv, any capitalisation"


def _cols(*names: str, required: tuple[str, ...] = ()) -> tuple[Col, ...]:
    return tuple(Col(n, required=n in required) for n in names)


SUBJECT = Col("subject_id", required=True)
ALSFRS_SCORE_COLUMNS = (
    "Q1_Speech", "Q2_Salivation", "Q3_Swallowing", "Q4_Handwriting", "Q5a_Cutting_without_Gastrostomy",
    "Q5b_Cutting_with_Gastrostomy", "Q6_Dressing_and_Hygiene", "Q7_Turning_in_Bed", "Q8_Walking",
    "Q9_Climbing_Stairs", "Q10_Respiratory", "R_1_Dyspnea", "R_2_Orthopnea", "R_3_Respiratory_Insufficiency",
    "ALSFRS_Total", "ALSFRS_R_Total",
)  # fmt: skip
ONSET_FLAGS = (
    "Site_of_Onset___Bulbar", "Site_of_Onset___Limb", "Site_of_Onset___Limb_and_Bulbar", "Site_of_Onset___Other",
    "Site_of_Onset___Spine",
)  # fmt: skip
FVC_LITRES = ("Subject_Liters_Trial_1", "Subject_Liters_Trial_2", "Subject_Liters_Trial_3")
FVC_PERCENT = ("pct_of_Normal_Trial_1", "pct_of_Normal_Trial_2", "pct_of_Normal_Trial_3")

FORMS: dict[str, FormSpec] = {
    f.key: f
    for f in (
        FormSpec(
            "alsfrs", "ALSFRS", "mapped", required=True,
            columns=(SUBJECT, Col("ALSFRS_Delta", required=True), *_cols(*ALSFRS_SCORE_COLUMNS)),
            one_of=(ALSFRS_SCORE_COLUMNS,), day_column="ALSFRS_Delta",
        ),
        FormSpec(
            "alshistory", "ALS history", "mapped", required=True,
            columns=(SUBJECT, Col("Onset_Delta", required=True),
                     *_cols("Diagnosis_Delta", "Site_of_Onset", *ONSET_FLAGS)),
            one_of=(("Site_of_Onset", *ONSET_FLAGS),),
        ),
        FormSpec(
            "demographics", "demographics", "mapped", required=True,
            columns=(SUBJECT, *_cols("Age", "Date_of_Birth", "Sex")),
            one_of=(("Age", "Date_of_Birth"),),
        ),
        FormSpec(
            "deathdata", "DeathData", "mapped",
            columns=(SUBJECT, *_cols("Subject_Died", "Death_Days", required=("Subject_Died", "Death_Days"))),
        ),
        FormSpec(
            "fvc", "Fvc", "mapped",
            columns=(SUBJECT, Col("Forced_Vital_Capacity_Delta", required=True),
                     *_cols(*FVC_LITRES, *FVC_PERCENT, "Subject_Normal", "Forced_Vital_Capacity_Units")),
            one_of=((*FVC_LITRES, *FVC_PERCENT),), day_column="Forced_Vital_Capacity_Delta",
        ),
        FormSpec(
            "vitalsigns", "VitalSigns", "mapped",
            columns=(SUBJECT, Col("Vital_Signs_Delta", required=True),
                     *_cols("Weight", "Weight_Units", "Height", "Height_Units")),
            pairs=(("Weight", "Weight_Units"), ("Height", "Height_Units")), day_column="Vital_Signs_Delta",
        ),
        FormSpec(
            "labs", "Labs", "mapped",
            columns=(SUBJECT, *_cols("Test_Name", "Test_Result", "Test_Unit", "Laboratory_Delta",
                                     required=("Test_Name", "Test_Result", "Test_Unit", "Laboratory_Delta")),
                     Col("Specimen", ("Specimen_Type", "Sample_Type", "Matrix")), Col("Assay")),
            day_column="Laboratory_Delta",
        ),
        FormSpec(
            "neurofilament", "Neurofilament", "mapped",
            columns=(SUBJECT, Col("Analyte", ("Test_Name",), required=True),
                     Col("Matrix", ("Specimen", "Specimen_Type", "Sample_Type"), required=True),
                     Col("Result", ("Test_Result",), required=True),
                     Col("Unit", ("Units", "Test_Unit", "Result_Unit"), required=True),
                     Col("Collection_Delta", ("Laboratory_Delta",), required=True),
                     Col("Assay", ("Assay_Platform", "Method"))),
            day_column="Collection_Delta",
        ),
        FormSpec(
            "riluzole", "Riluzole", "mapped",
            columns=(SUBJECT, Col("Subject_used_Riluzole", required=True), Col("Riluzole_use_Delta")),
        ),
        FormSpec(
            "elescorial", "ElEscorial", "mapped",
            columns=(SUBJECT, Col("el_escorial", required=True), Col("delta_days")),
        ),
        FormSpec("svc", "Svc", "contact", columns=(SUBJECT, Col("Slow_vital_Capacity_Delta")),
                 day_column="Slow_vital_Capacity_Delta"),
        FormSpec("handgripstrength", "HandGripStrength", "contact", columns=(SUBJECT, Col("MS_Delta")),
                 day_column="MS_Delta"),
        FormSpec("musclestrength", "MuscleStrength", "contact", columns=(SUBJECT, Col("MS_Delta")),
                 day_column="MS_Delta"),
        FormSpec("treatment", "Treatment", "unused"),
        FormSpec("familyhistory", "FamilyHistory", "unused"),
        FormSpec("conmeds", "ConMeds", "unused"),
        FormSpec("adverseevents", "AdverseEvents", "unused"),
    )
}  # fmt: skip
"""Every PRO-ACT form the importer recognises, by file key."""

_PREFIX = re.compile(r"^(f_)?proact_")
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def name_key(name: str) -> str:
    """Matching key of a column name: lower case, letters and digits only."""
    return _NOT_ALNUM.sub("", name.strip().lower())


def file_key(path: Path) -> str:
    """Matching key of a file name: lower case, ``PROACT_``/``F_PROACT_`` prefix dropped, letters and digits only."""
    stem = path.name[: -len(".csv")] if path.name.lower().endswith(".csv") else path.stem
    return name_key(_PREFIX.sub("", stem.strip().lower()))


@dataclass
class Form:
    """One PRO-ACT file as read: every cell as text, columns renamed to their data-dictionary names.

    ``row_numbers[i]`` is the 1-based data-row number in the file (the header is not counted) of ``frame`` row
    ``i``, the numbering used in exclusion records; it survives :meth:`take`.
    """

    spec: FormSpec
    path: Path
    frame: pd.DataFrame
    source_columns: dict[str, str] = field(default_factory=dict)
    row_numbers: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="int64"))
    _text: dict[str, pd.Series] = field(default_factory=dict, repr=False)
    _subjects: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.row_numbers) != len(self.frame):
            self.row_numbers = np.arange(1, len(self.frame) + 1)

    @property
    def file(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return len(self.frame)

    def has(self, name: str) -> bool:
        return name in self.frame.columns

    def text(self, name: str) -> pd.Series:
        """The column's cells, stripped, with blanks as missing (an all-missing column when the file lacks it)."""
        if name not in self._text:
            values: pd.Series
            if name not in self.frame.columns:
                values = pd.Series(np.nan, index=self.frame.index, dtype="str")
            else:
                values = self.frame[name].str.strip()
                values = values.mask(values == "")
            self._text[name] = values
        return self._text[name]

    def subjects(self) -> np.ndarray:
        """``subject_id`` as text (object array, None where missing)."""
        if self._subjects is None:
            self._subjects = objects(self.text("subject_id"))
        return self._subjects

    def column_name(self, name: str) -> str:
        """The column's name as written in the file (for messages)."""
        return self.source_columns.get(name, name)

    def take(self, mask: np.ndarray) -> Form:
        """The rows where ``mask`` holds, keeping their file row numbers."""
        frame = self.frame[mask].reset_index(drop=True)
        return Form(self.spec, self.path, frame, self.source_columns, self.row_numbers[mask])


@dataclass
class Discovery:
    """Which file holds which form, and which files were not recognised."""

    files: dict[str, Path]
    ignored: list[str]


def discover(folder: Path, violations: list[Violation]) -> Discovery:
    """Find the PRO-ACT forms in ``folder`` (file names matched case-insensitively, any naming scheme).

    Two files for one form (e.g. ``alsfrs.csv`` and ``PROACT_ALSFRS.csv``) are ambiguous and reported; a missing
    required form is reported. Violations are appended, not raised, so that every problem is listed at once.
    """
    files: dict[str, list[Path]] = {}
    ignored: list[str] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        key = file_key(path)
        if path.name.lower().endswith(".csv") and key in FORMS:
            files.setdefault(key, []).append(path)
        else:
            ignored.append(path.name)
    for key, paths in files.items():
        if len(paths) > 1:
            violations.append(
                Violation(
                    FORMS[key].label,
                    None,
                    None,
                    "more than one file holds this form; keep one",
                    [p.name for p in paths],
                )
            )
    for spec in FORMS.values():
        if spec.required and spec.key not in files:
            violations.append(
                Violation(spec.label, None, None, f"required file is missing (expected {spec.expected_files()})")
            )
    return Discovery({k: v[0] for k, v in files.items()}, ignored)


def read_header(path: Path) -> list[str]:
    """Column names as written in the file (a UTF-8 byte-order mark is dropped)."""
    return list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)


def match_columns(spec: FormSpec, path: Path, header: list[str], violations: list[Violation]) -> dict[str, str]:
    """Map the form's columns to the file's column names; report missing and ambiguous columns.

    Returns
    -------
    dict of str to str
        Data-dictionary name -> name in the file, for the columns present.
    """
    by_key: dict[str, list[str]] = {}
    for name in header:
        by_key.setdefault(name_key(str(name)), []).append(str(name))
    found: dict[str, str] = {}
    for col in spec.columns:
        candidates = [n for k in col.keys for n in by_key.get(k, [])]
        if len(candidates) > 1:
            violations.append(
                Violation(path.name, None, col.name, "more than one column matches this name", candidates)
            )
        elif candidates:
            found[col.name] = candidates[0]
        elif col.required:
            violations.append(Violation(path.name, None, col.name, "required column is missing"))
    for group in spec.one_of:
        if not any(name in found for name in group):
            violations.append(
                Violation(
                    path.name, None, group[0], "required column is missing (or one of: " + ", ".join(group[1:]) + ")"
                )
            )
    for value, unit in spec.pairs:
        if value in found and unit not in found:
            violations.append(Violation(path.name, None, unit, f"required column is missing (the file has {value})"))
    return found


def read_form(spec: FormSpec, path: Path, columns: dict[str, str]) -> Form:
    """Read the matched columns of one form, every cell as text."""
    if not columns:
        frame = pd.read_csv(path, usecols=[0], dtype=str, keep_default_na=False, na_values=CSV_NA, encoding="utf-8-sig")
        return Form(spec, path, frame.iloc[:, :0])
    source = list(columns.values())
    frame = pd.read_csv(
        path, usecols=source, dtype=str, keep_default_na=False, na_values=CSV_NA, encoding="utf-8-sig", engine="pyarrow"
    )
    frame = frame.rename(columns={v: k for k, v in columns.items()})
    frame = frame[list(columns)].reset_index(drop=True)
    return Form(spec, path, frame, dict(columns))


def read_forms(folder: Path) -> tuple[dict[str, Form], Discovery]:
    """Discover, check and read every recognised form in ``folder``.

    Raises
    ------
    FeatureDataError
        Every missing or ambiguous file and every missing required column, all at once; nothing is read then.
    """
    violations: list[Violation] = []
    if not folder.is_dir():
        raise FeatureDataError([Violation(str(folder), None, None, "input folder does not exist")], context=str(folder))
    found = discover(folder, violations)
    matched: dict[str, dict[str, str]] = {}
    for key, path in found.files.items():
        spec = FORMS[key]
        try:
            header = read_header(path)
        except (pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            violations.append(Violation(path.name, None, None, f"not a readable CSV file ({type(exc).__name__})"))
            continue
        matched[key] = match_columns(spec, path, header, violations)
    if violations:
        raise FeatureDataError(violations, context=f"PRO-ACT export {folder}")
    forms: dict[str, Form] = {}
    for key, cols in matched.items():
        path = found.files[key]
        try:
            forms[key] = read_form(FORMS[key], path, cols)
        except (pa.ArrowInvalid, pd.errors.ParserError, UnicodeDecodeError) as exc:
            # e.g. a row with more fields than the header: the file is refused as a whole, naming the parser's reason
            violations.append(Violation(path.name, None, None, f"not a readable CSV file ({exc})".replace("\n", " ")))
    if violations:
        raise FeatureDataError(violations, context=f"PRO-ACT export {folder}")
    return forms, found
