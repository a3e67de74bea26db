"""Every marshmallow schema of the three services and shared/, found by walking their modules
(a new schema is covered without touching this file), loads any JSON value a client could
send: a hostile body may only ever be a `ValidationError` (a 422 naming the field), never
another exception (a 500). What loads also dumps, and dumping then loading again gives the
same data: the API's answers and the event payloads can carry whatever the API accepted."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, validate

import services
import shared

pytestmark = pytest.mark.unit


def discover_schemas() -> dict[str, type[Schema]]:
    """Every Schema subclass defined in a module of `shared` or `services` (the migrations,
    which only run under Alembic, aside), by dotted name."""
    found: dict[str, type[Schema]] = {}
    for package in (shared, services):
        for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in module_info.name:
                continue
            module = importlib.import_module(module_info.name)
            for obj in vars(module).values():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, Schema)
                    and obj.__module__ == module.__name__
                ):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


SCHEMAS = discover_schemas()

# --- what a client can send --------------------------------------------------------------------

# Python's json module (Flask's request.get_json) also reads NaN, Infinity and huge integers.
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text()
    | st.sampled_from(["", " ", "\x00", "\u202e", "1e999", "2023-13-45", "null", "<script>"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


HOSTILE_TEXT = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        '=HYPERLINK("http://evil.example")',
        "Ann\r\nBcc: all@evil.example",
        "nul\x00byte",
        "\u202eevil",
        "  padded  ",
        "王小明",
        "x" * 5000,
    ]
)
# Where the field's type says nothing of its values: custom fields the walk finds by name.
KNOWN_VALUES = {
    "CountryCode": ["CN", "mx", "DE", "XX"],
    "TimeZone": ["Asia/Shanghai", "UTC", "Mars/Olympus"],
    "Consent": [True, False],
}
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5.5))])


def _validator(field: fields.Field, kind: type):
    return next((v for v in getattr(field, "validators", []) if isinstance(v, kind)), None)


def _bounds(field: fields.Field, top: int) -> tuple[int, int]:
    """The size a Length validator asks for, kept small (a long list is not more hostile)."""
    length = _validator(field, validate.Length)
    if length is None:
        return 0, top
    if length.equal is not None:
        return length.equal, length.equal
    low = length.min or 0
    return low, max(low, min(length.max or top, top))


def typed(field: fields.Field, depth: int = 0) -> st.SearchStrategy:
    """Values of the field's own type within its validators, so that documents load and the
    round trip is exercised; strings now and then hostile."""
    if depth > 3:
        return JSON_VALUES
    one_of, regexp = _validator(field, validate.OneOf), _validator(field, validate.Regexp)
    limits = _validator(field, validate.Range)
    low, high = _bounds(field, 40)
    if one_of is not None:
        return st.sampled_from(list(one_of.choices))
    if type(field).__name__ in KNOWN_VALUES:
        return st.sampled_from(KNOWN_VALUES[type(field).__name__])
    if isinstance(field, fields.Nested):
        inner = document(field.schema, strict=True, depth=depth + 1)
        return st.lists(inner, max_size=3) if field.many else inner
    if isinstance(field, fields.List):
        low, high = _bounds(field, 3)
        return st.lists(typed(field.inner, depth + 1), min_size=low, max_size=high)
    if isinstance(field, fields.Dict):
        keys = typed(field.key_field, depth + 1) if field.key_field else st.text(max_size=8)
        values = typed(field.value_field, depth + 1) if field.value_field else JSON_VALUES
        return st.dictionaries(keys.filter(lambda k: isinstance(k, str)), values, max_size=3)
    if isinstance(field, fields.Enum):
        return st.sampled_from([m.value if field.by_value else m.name for m in field.enum])
    if isinstance(field, fields.Email):
        local = st.text(string.ascii_lowercase + string.digits + ".-_", min_size=1, max_size=20)
        return local.map(lambda name: f"{name}@example.org") | st.emails()
    if isinstance(field, fields.Url):
        return st.text(string.ascii_letters, max_size=20).map("https://example.org/{}".format)
    if isinstance(field, fields.UUID):
        return st.uuids().map(str)
    if isinstance(field, fields.DateTime):
        earliest = limits.min if limits and limits.min else datetime(1900, 1, 1, tzinfo=UTC)
        latest = limits.max if limits and limits.max else datetime(2200, 1, 1, tzinfo=UTC)
        moments = st.datetimes(
            min_value=earliest.replace(tzinfo=None), max_value=latest.replace(tzinfo=None)
        )
        return st.builds(lambda d, z: d.replace(tzinfo=z).isoformat(), moments, ZONES)
    if isinstance(field, fields.Date):
        return st.dates().map(lambda d: d.isoformat())
    if isinstance(field, fields.Boolean):
        return st.booleans()
    if isinstance(field, fields.Integer):
        lowest = limits.min if limits and limits.min is not None else -(2**40)
        highest = limits.max if limits and limits.max is not None else 2**40
        return st.integers(min_value=lowest, max_value=highest)
    if isinstance(field, fields.Number):
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers()
    if isinstance(field, fields.String):
        if regexp is not None:
            return st.from_regex(regexp.regex, fullmatch=True)
        printable = st.characters(exclude_categories=("Cc", "Cs"))
        return st.text(printable, min_size=max(low, 1), max_size=high) | HOSTILE_TEXT
    return JSON_VALUES


def document(schema: Schema, strict: bool, depth: int = 0) -> st.SearchStrategy:
    """A JSON object with the schema's field names, the required ones present and the others
    sometimes; strict: each value of the field's type, else now and then any JSON value."""

    def value(field: fields.Field) -> st.SearchStrategy:
        return typed(field, depth) if strict else st.one_of(typed(field, depth), JSON_VALUES)

    loadable = {
        field.data_key or name: field
        for name, field in schema.load_fields.items()
        if not field.dump_only
    }
    required = {key: value(f) for key, f in loadable.items() if f.required}
    optional = {key: value(f) for key, f in loadable.items() if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def _without_one_key(d: dict) -> st.SearchStrategy:
    if not d:
        return st.just(d)
    return st.sampled_from(sorted(d)).map(lambda k: {x: v for x, v in d.items() if x != k})


def hostile(schema: Schema) -> st.SearchStrategy:
    """Any JSON value, or a document of the schema's shape: well typed, loosely typed, with an
    extra key or without one of its keys."""
    strict = document(schema, strict=True)
    extra = st.tuples(strict, st.text(max_size=8), JSON_VALUES).map(lambda t: {**t[0], t[1]: t[2]})
    return st.one_of(
        strict,
        JSON_VALUES,
        strict,
        document(schema, strict=False),
        strict,
        extra,
        strict.flatmap(_without_one_key),
    )


COMPUTED = (fields.Function, fields.Method)


def reshapes(schema: Schema) -> bool:
    """A schema (or one nested in it) with a pre_dump hook reshapes a row object before
    dumping it: not something loaded data ever is."""
    if schema._hooks.get("pre_dump"):
        return True
    return any(reshapes(nested) for nested in _nested(schema))


def _nested(schema: Schema) -> list[Schema]:
    found = []
    for field in schema.fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            found.append(inner.schema)
    return found


def dumpable(schema: Schema, loaded: dict | None = None, depth: int = 0) -> list[str]:
    """Dotted names of the fields loaded data can be dumped through: not the Function and
    Method fields, which compute from the row objects the services dump, nor (at the top)
    a field it lacks (marshmallow would read a missing `keys` as the dict's method)."""
    names = []
    for name, field in schema.dump_fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(field, COMPUTED) or depth > 5:
            continue
        if loaded is not None and (field.attribute or name) not in loaded:
            continue
        if isinstance(inner, fields.Nested):
            names += [f"{name}.{sub}" for sub in dumpable(inner.schema, None, depth + 1)]
        else:
            names.append(name)
    return names


def check(schema_class: type[Schema], value) -> None:
    """`value` loads or is a ValidationError; what loads dumps, and loads back the same."""
    schema = schema_class()
    try:
        loaded = schema.load(value)
    except ValidationError as error:
        assert isinstance(error.messages, dict | list), error.messages
        return
    if reshapes(schema):
        return
    keep = dumpable(schema, loaded)
    dumped = schema_class(only=keep).dump(loaded) if keep else {}
    assert schema.load(dumped) == loaded, (value, dumped)


QUICK = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same documents on every run: a failure reproduces
    database=None,
    suppress_health_check=list(HealthCheck),
)
LONG = settings(QUICK, max_examples=300)


def test_the_walk_finds_the_schemas_of_every_service_and_of_shared():
    modules = {name.rsplit(".", 1)[0] for name in SCHEMAS}

    assert len(SCHEMAS) > 100
    assert {
        "shared.events",
        "services.registration.schemas",
        "services.checkin.schemas",
        "services.notify.api",
    } <= modules


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_loading_any_json_raises_only_a_validation_error_and_what_loads_round_trips(name):
    schema_class = SCHEMAS[name]

    @QUICK
    @given(value=hostile(schema_class()))
    def run(value):
        check(schema_class, value)

    run()


@pytest.mark.faults
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_loading_any_json_long_run(name):
    schema_class = SCHEMAS[name]

    @LONG
    @given(value=hostile(schema_class()))
    def run(value):
        check(schema_class, value)

    run()
