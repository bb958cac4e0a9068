"""The model spec and its checks against a training table: every failure happens before any
training and names the column at fault; a table that fits comes back with canonical dtypes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import yaml

from riskscore.io.store import LocalStore
from training.data.spec import ModelSpec, SpecError, check_data, load_spec
from training.train import train

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "training" / "specs" / "credit_default.yaml"


def quiet(*_args):
    pass


ROWS = 400  # enough rows for both target classes; checks need no more


@pytest.fixture
def frame(small_data) -> pd.DataFrame:
    return small_data.head(ROWS).copy()


def _spec_dict() -> dict:
    with open(DEFAULT_SPEC_PATH) as fh:
        return yaml.safe_load(fh)


def _with_feature(spec: ModelSpec, name: str, **changes) -> ModelSpec:
    return spec.model_copy(update={"features": [
        f.model_copy(update=changes) if f.name == name else f for f in spec.features]})


def _add_feature(spec: ModelSpec, **feature) -> ModelSpec:
    return ModelSpec.model_validate({**spec.model_dump(), "features": [
        *(f.model_dump() for f in spec.features), feature]})


def _set(column: str, row: int, value, as_object: bool = False):
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        if as_object:
            df[column] = df[column].astype(object)
        df.loc[df.index[row], column] = value
        return df
    return mutate


def _replace(column: str, make):
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df[column] = make(df)
        return df
    return mutate


def _drop(column: str):
    return lambda df: df.drop(columns=[column])


def _same(x):
    return x


# (spec change, data change, regex the SpecError message must match: it names the column)
DATA_FAILURES = {
    "spec names a column the data lacks": (
        lambda s: _add_feature(s, name="bureau_score", type="numeric"), _same,
        r"column 'bureau_score' named in the spec is missing from the data"),
    "feature column dropped from the data": (
        _same, _drop("debt_ratio"), r"column 'debt_ratio' named in the spec is missing"),
    "target column missing": (
        _same, _drop("default"), r"column 'default' named in the spec is missing"),
    "date column missing": (
        _same, _drop("application_date"), r"column 'application_date' named in the spec is missing"),
    "target holds 0/1/2": (
        _same, _set("default", 5, 2), r"target 'default' must be binary 0/1.*found 3 distinct numeric values, 1 rows neither 0 nor 1 \(first at row 6\)"),
    "target has a missing value": (
        _same, _set("default", 7, np.nan, as_object=True), r"target 'default' must be binary.*1 missing/non-numeric \(first at row 8\)"),
    "target holds words": (
        _same, _replace("default", lambda df: np.where(df["default"] == 1, "yes", "no")),
        r"target 'default' must be binary.*missing/non-numeric"),
    "target has one class only": (
        _same, _replace("default", lambda df: np.zeros(len(df), dtype=np.int64)),
        r"target 'default' must be binary 0/1 with both classes"),
    "numeric feature holds a string": (
        _same, _set("age", 3, "forty", as_object=True),
        r"feature 'age' is numeric but 1 values are not numbers \(first at row 4\)"),
    "numeric feature stored as text with a word": (
        _same, _replace("debt_ratio", lambda df: df["debt_ratio"].astype(str).where(df.index != df.index[0], "n/a")),
        r"feature 'debt_ratio' is numeric but 1 values are not numbers"),
    "categorical feature holds fractional numbers": (
        _same, _replace("loan_purpose", lambda df: np.linspace(0, 1, len(df))),
        r"feature 'loan_purpose' is categorical but holds \d+ non-integer numbers \(first at row 2\)"),
    "integer codes outside the declared codes": (
        lambda s: _with_feature(s, "housing", categories=["0", "1"]),
        _replace("housing", lambda df: np.arange(len(df)) % 3),
        r"feature 'housing' has 1 values outside its declared categories on \d+ rows \(first at row 3\)"),
    "non-nullable numeric has NaN": (
        _same, _set("age", 11, np.nan), r"feature 'age' is not nullable but has 1 missing values"),
    "non-nullable categorical has None": (
        lambda s: _with_feature(s, "housing", nullable=False), _set("housing", 2, None),
        r"feature 'housing' is not nullable but has 1 missing values"),
    "value below min": (
        _same, _set("revolving_utilization", 0, -0.25),
        r"feature 'revolving_utilization' has 1 values below its min 0\.0 \(first at row 1\)"),
    "value above max": (
        _same, _set("age", 9, 130.0), r"feature 'age' has 1 values above its max 120\.0 \(first at row 10\)"),
    "value above a tightened max": (
        lambda s: _with_feature(s, "debt_ratio", max=0.5), _same,
        r"feature 'debt_ratio' has \d+ values above its max 0\.5"),
    "infinite numeric value": (
        _same, _set("monthly_income", 4, np.inf), r"feature 'monthly_income' has infinite values"),
    "category outside the declared categories": (
        lambda s: _with_feature(s, "housing", categories=["own", "rent"]), _same,
        r"feature 'housing' has 2 values outside its declared categories on \d+ rows"),
    "negative exposure": (
        _same, _set("loan_amount", 1, -5.0), r"exposure column 'loan_amount' has negative values"),
    "LGD above 1": (
        _same, _set("lgd", 1, 1.5), r"LGD column 'lgd' has values outside \[0, 1\]"),
    "unparseable date": (
        _same, _set("application_date", 6, "not a date", as_object=True),
        r"date column 'application_date' has 1 missing or unparseable values"),
}


@pytest.mark.parametrize("spec_change, data_change, message", DATA_FAILURES.values(), ids=DATA_FAILURES.keys())
def test_check_data_rejects_and_names_the_column(small_spec, frame, spec_change, data_change, message):
    spec = spec_change(small_spec)
    df = data_change(frame)
    with pytest.raises(SpecError, match=message):
        check_data(spec, df)


@pytest.mark.parametrize("spec_change, data_change, message", [
    DATA_FAILURES["spec names a column the data lacks"],
    DATA_FAILURES["target holds 0/1/2"],
    DATA_FAILURES["value above max"],
], ids=["missing column", "non-binary target", "above max"])
def test_train_fails_before_training_or_publishing(tmp_path, small_spec, frame, spec_change, data_change,
                                                   message, monkeypatch):
    import training.models.pd.export as pd_export

    def no_fit(*_args, **_kwargs):
        raise AssertionError("training started although the data does not fit the spec")

    monkeypatch.setattr(pd_export, "fit_pd", no_fit)
    store = LocalStore(tmp_path / "models")
    with pytest.raises(SpecError, match=message):
        train(spec_change(small_spec), data_change(frame), store, log=quiet)
    assert store.list_dirs("") == [], "nothing may be published when the data does not fit"


def test_check_data_reports_every_bad_column_at_once(small_spec, frame):
    frame["age"] = frame["age"].astype(object)
    frame.loc[frame.index[0], "age"] = "old"
    frame["housing"] = np.arange(len(frame)) + 0.5  # fractional numbers cannot be category codes
    frame.loc[frame.index[1], "revolving_utilization"] = -1.0
    with pytest.raises(SpecError) as info:
        check_data(small_spec, frame)
    for column in ("'age'", "'housing'", "'revolving_utilization'"):
        assert column in str(info.value)


def test_check_data_never_quotes_a_value(small_spec, frame):
    """The message reaches the training job's logs: counts and row positions, no values."""
    spec = _with_feature(small_spec, "housing", categories=["own", "rent", "mortgage"])
    frame["age"] = frame["age"].astype(object)
    frame.loc[frame.index[0], "age"] = "age-7731"
    frame.loc[frame.index[1], "housing"] = "housing-7732"
    frame.loc[frame.index[2], "revolving_utilization"] = -7733.5
    frame.loc[frame.index[3], "age"] = 7734.0
    frame["default"] = frame["default"].astype(object)
    frame.loc[frame.index[4], "default"] = "default-7735"
    frame.loc[frame.index[5], "default"] = 7736
    with pytest.raises(SpecError) as info:
        check_data(spec, frame)
    message = str(info.value)
    assert "first at row 1" in message and "first at row 2" in message
    assert not [n for n in ("7731", "7732", "7733", "7734", "7735", "7736") if n in message], message


# --- the spec file itself -------------------------------------------------------------

def _duplicate_feature(d):
    d["features"].append(dict(d["features"][0]))


def _feature_is_target(d):
    d["features"].append({"name": "default", "type": "numeric"})


def _feature_is_date(d):
    d["features"].append({"name": "application_date", "type": "numeric"})


def _feature_is_exposure(d):
    d["features"].append({"name": "loan_amount", "type": "numeric"})


def _typo_key(d):
    d["features"][1]["monotonic"] = "decreasing"


def _bad_type(d):
    d["features"][0]["type"] = "float"


def _min_above_max(d):
    d["features"][1].update(min=90, max=20)


def _categorical_with_min(d):
    d["features"][-1]["min"] = 0


def _no_features(d):
    d["features"] = []


def _bad_name(d):
    d["name"] = "credit default!"


def _unsorted_bands(d):
    d["scaling"]["bands"] = [{"name": "Low"}, {"name": "High", "min_score": 700},
                             {"name": "Mid", "min_score": 500}]


SPEC_FAILURES = {
    "duplicate feature": (_duplicate_feature, r"features listed more than once: \['revolving_utilization'\]"),
    "feature equal to the target": (_feature_is_target, r"column 'default' is the target and cannot also be a feature"),
    "feature equal to the date": (_feature_is_date, r"column 'application_date' is the date"),
    "feature equal to the exposure": (_feature_is_exposure, r"column 'loan_amount' is the exposure"),
    "unknown key in a feature": (_typo_key, r"features\.1\.monotonic: Extra inputs are not permitted"),
    "unknown feature type": (_bad_type, r"features\.0\.type"),
    "min above max": (_min_above_max, r"feature 'age': min 90\.0 is above max 20\.0"),
    "min on a categorical": (_categorical_with_min, r"feature 'loan_purpose': min/max apply to numeric features only"),
    "no features": (_no_features, r"features: List should have at least 1 item"),
    "name with spaces": (_bad_name, r"name: String should match pattern"),
    "rating bands out of order": (_unsorted_bands, r"scaling.bands: min_score must strictly increase"),
}


@pytest.mark.parametrize("change, message", SPEC_FAILURES.values(), ids=SPEC_FAILURES.keys())
def test_load_spec_rejects_invalid_specs(tmp_path, change, message):
    d = _spec_dict()
    change(d)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(d))
    with pytest.raises(SpecError, match=message):
        load_spec(path)


@pytest.mark.parametrize("text, message", [
    ("name: x\nfeatures: [\n  - {name: a", r"is not valid YAML"),
    ("name: x\n\ttarget: y\n", r"is not valid YAML"),
    ("", r"is invalid: spec: Input should be a valid dictionary"),
    ("- just\n- a list\n", r"is invalid: spec: Input should be a valid dictionary"),
    ("name: x\nfeatures: [{name: a, type: numeric}]\n", r"is invalid: target: Field required"),
], ids=["unterminated flow", "tab indentation", "empty file", "a list", "no target"])
def test_load_spec_rejects_malformed_files(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_load_spec_missing_file(tmp_path):
    path = tmp_path / "nope" / "spec.yaml"
    with pytest.raises(SpecError, match=r"spec file .*nope/spec\.yaml does not exist"):
        load_spec(path)


def test_default_spec_loads_with_its_roles():
    spec = load_spec(DEFAULT_SPEC_PATH)
    assert (spec.target, spec.id, spec.exposure, spec.lgd, spec.date) == (
        "default", "applicant_id", "loan_amount", "lgd", "application_date")
    assert [f.name for f in spec.categorical] == ["housing", "employment_type", "loan_purpose"]
    assert len(spec.numeric) + len(spec.categorical) == len(spec.features)


# --- a table that fits ----------------------------------------------------------------

def test_check_data_returns_canonical_dtypes(small_spec, frame):
    before = frame.copy()
    out = check_data(small_spec, frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is left alone
    expected_columns = {small_spec.target, small_spec.id, small_spec.exposure, small_spec.lgd,
                        small_spec.date, *(f.name for f in small_spec.features)}
    assert set(out.columns) == expected_columns  # only what the spec names (no true_pd)
    assert out[small_spec.target].dtype == np.int64
    for f in small_spec.numeric:
        assert out[f.name].dtype == np.float64, f.name
        np.testing.assert_array_equal(out[f.name].to_numpy(), frame[f.name].to_numpy(dtype=float))
    for f in small_spec.categorical:
        values = out[f.name].tolist()
        # Present values are plain strings. (The docstring promises None for missing; under
        # pandas 3 the column comes back as the `str` dtype, whose missing value is NaN.)
        assert all(type(v) is str for v in values if not pd.isna(v)), f.name
        assert out[f.name].isna().tolist() == frame[f.name].isna().tolist(), f.name
    assert frame["employment_type"].isna().any(), "the sample should exercise missing categories"
    assert pd.api.types.is_datetime64_any_dtype(out[small_spec.date])
    assert out.index.equals(frame.index)


def test_check_data_converts_text_and_integer_columns(small_spec, frame):
    """What a CSV gives back (numbers as text or ints, dates as text) is converted, not refused."""
    raw = frame.copy()
    raw["age"] = raw["age"].astype(int)
    raw["open_credit_lines"] = raw["open_credit_lines"].map(lambda v: f"{v:g}").astype(object)
    raw["application_date"] = raw["application_date"].dt.strftime("%Y-%m-%d")
    raw["default"] = raw["default"].astype(float)
    out = check_data(small_spec, raw)
    ref = check_data(small_spec, frame)
    for col in ("age", "open_credit_lines", "application_date", "default"):
        assert out[col].dtype == ref[col].dtype, col
        np.testing.assert_array_equal(out[col].to_numpy(), ref[col].to_numpy())


@pytest.mark.parametrize("stored", [
    pd.Series([1, 2, 3, 2] * 100, dtype="int64"),
    pd.Series([1.0, 2.0, 3.0, np.nan] * 100),  # a CSV column of codes with gaps
    pd.Series(["1", "2", "3", None] * 100, dtype=object),
    pd.Series([1, "2", 3.0, None] * 100, dtype=object),
], ids=["int64", "float64 with NaN", "strings", "mixed"])
def test_categorical_integer_codes_are_read_as_codes(small_spec, frame, stored):
    """The declared type decides: codes read as numbers become the same strings as codes read as text."""
    raw = frame.copy()
    raw["housing"] = stored.to_numpy()
    out = check_data(small_spec, raw)
    codes = out["housing"].tolist()
    assert sorted({c for c in codes if not pd.isna(c)}) == ["1", "2", "3"]
    assert [pd.isna(c) for c in codes] == stored.isna().tolist()


@pytest.mark.parametrize("value, code", [
    (2, "2"), (np.int64(2), "2"), (2.0, "2"), (np.float32(2.0), "2"), ("2", "2"), (-1, "-1"),
    (2.5, "2.5"), ("own", "own"), ("", None), (None, None), (np.nan, None), (pd.NA, None), (True, "True"),
])
def test_category_code(value, code):
    from riskscore.contract.schema import category_code

    assert category_code(value) == code


def test_spec_categories_may_be_written_as_integers():
    spec = ModelSpec.model_validate({"name": "m", "target": "y", "features": [
        {"name": "education", "type": "categorical", "categories": [1, 2, 3]}]})
    f = spec.features[0]
    assert f.categories == ["1", "2", "3"] and f.accepts_integer_codes
    with pytest.raises(ValueError, match="integer_codes but categories \\['a'\\]"):
        ModelSpec.model_validate({"name": "m", "target": "y", "features": [
            {"name": "education", "type": "categorical", "categories": ["a", 2], "integer_codes": True}]})


# --- several categorical features, end to end -----------------------------------------

CATEGORICAL_EFFECTS = {
    "region": {"north": -0.4, "south": 0.3, "east": 0.0, "west": 0.6, "islands": 1.0},
    "channel": {"branch": -0.3, "online": 0.2, "broker": 0.8},
    "product": {"card": 0.5, "personal": 0.0, "auto": -0.5, "home": -1.0},
    "grade": {g: 0.5 * i - 1.5 for i, g in enumerate("ABCDEFG")},
}


def _categorical_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({name: rng.choice(list(levels), rows) for name, levels in CATEGORICAL_EFFECTS.items()})
    df["income"] = np.round(np.exp(rng.normal(8.3, 0.5, rows)))
    df["utilization"] = rng.beta(1.0, 2.0, rows)
    logit = -2.5 + sum(df[name].map(levels).to_numpy() for name, levels in CATEGORICAL_EFFECTS.items())
    logit = logit - 0.6 * np.log(df["income"] / 4000) + 1.5 * df["utilization"]
    df["bad"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    df.loc[rng.random(rows) < 0.05, "channel"] = None  # a nullable categorical with gaps
    return df


CATEGORICAL_SPEC = {
    "name": "multi_categorical",
    "target": "bad",
    "features": [
        {"name": "region", "type": "categorical"},
        {"name": "channel", "type": "categorical", "nullable": True, "unknown": "as_missing"},
        {"name": "product", "type": "categorical", "categories": ["auto", "card", "home", "personal", "lease"]},
        {"name": "grade", "type": "categorical"},
        {"name": "income", "type": "numeric", "min": 0, "monotone": "decreasing"},
        {"name": "utilization", "type": "numeric", "min": 0, "max": 1},
    ],
    # The one-hot matrix is the XGBoost family's: pin it (auto could pick the scorecard).
    "pd_model": {"family": "xgboost", "n_estimators": 80, "learning_rate": 0.1},
}


def test_several_categorical_features_train_end_to_end(tmp_path):
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(CATEGORICAL_SPEC))
    spec = load_spec(path)
    df = _categorical_frame(4000, seed=3)
    store = LocalStore(tmp_path / "models")
    result = train(spec, df, store, log=quiet)
    m = result.manifest

    assert result.promoted
    assert m["data"]["split"] == "stratified random"
    parity = m["parity"]["pd"]
    assert parity["rows"] == m["data"]["split_rows"]["test"]
    assert parity["pd_max_abs_diff"] <= 1e-5
    assert parity["additivity_max_abs_diff"] <= 1e-4
    assert parity["contributions_max_abs_diff"] <= 1e-4

    cats = {f["name"]: f["categories"] for f in m["features"] if f["type"] == "categorical"}
    assert cats["region"] == sorted(CATEGORICAL_EFFECTS["region"])  # learned from the data
    assert cats["grade"] == list("ABCDEFG")
    assert cats["channel"] == sorted(CATEGORICAL_EFFECTS["channel"])  # missing is not a category
    assert cats["product"] == CATEGORICAL_SPEC["features"][2]["categories"]  # declared, kept in order
    columns = m["models"]["pd"]["matrix_columns"]
    for name, levels in cats.items():
        assert [c for c in columns if c.startswith(name + "=")] == \
            [f"{name}={v}" for v in levels] + ([f"{name}=missing"] if name == "channel" else [])
    assert m["metrics"]["test"]["auc"] > 0.65, "the categorical signal should be learned"

    data = store.read(f"multi_categorical/{m['version']}/pd.onnx")
    assert hashlib.sha256(data).hexdigest() == m["files"]["pd.onnx"]["sha256"]
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    inputs = {i.name: i.type for i in session.get_inputs()}
    assert inputs == {"region": "tensor(string)", "channel": "tensor(string)", "product": "tensor(string)",
                      "grade": "tensor(string)", "income": "tensor(float)", "utilization": "tensor(float)"}

    def run(rows: pd.DataFrame) -> dict:
        feeds = {}
        for f in spec.features:
            if f.type == "numeric":
                feeds[f.name] = rows[f.name].to_numpy(np.float32).reshape(-1, 1)
            else:
                feeds[f.name] = np.array(["" if v is None else v for v in rows[f.name]], dtype=object).reshape(-1, 1)
        return dict(zip(["pd", "logit", "contributions"], session.run(["pd", "logit", "contributions"], feeds)))

    out = run(df)
    bias = m["models"]["pd"]["contribution_bias"]
    assert np.max(np.abs(out["contributions"].astype(np.float64).sum(axis=1) + bias - out["logit"])) <= 1e-4
    for i, f in enumerate(spec.features[:4]):
        assert np.abs(out["contributions"][:, i]).max() > 1e-3, f"{f.name} never moves the PD"

    # The one-hot path works: only the grade changes, and the worst grade is riskier.
    base = df.head(20).copy()
    best, worst = run(base.assign(grade="A"))["pd"], run(base.assign(grade="G"))["pd"]
    assert np.all(worst > best)
