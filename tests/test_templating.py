"""Tests for striv.templating: param layers, secrets and jsonnet rendering (no database)."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from striv import templating
from striv.templating import Layer, Rendered, RenderError

EXECUTION = "hello"
EXEC_LAYER = "execution:hello"

NOMAD_TEMPLATE = """
// A periodic docker batch job; trailing comments must not break batching
local env = { [k]: std.toString(params.env[k]) for k in std.objectFields(params.env) };
{
  Job: {
    ID: params.job_id,
    Type: "batch",
    Periodic: { Enabled: true, Spec: params.schedule, SpecType: "cron" },
    TaskGroups: [{
      Name: "main",
      Tasks: [{
        Driver: "docker",
        Config: { image: params.image + ":" + params.tag, args: params.args },
        Env: env,
        Resources: { CPU: params.resources.cpu, MemoryMB: params.resources.memory },
      }],
    }],
  },
} // end
"""


def secret(encrypted: str) -> dict[str, str]:
    return {"_striv_type": "secret", "encrypted": encrypted}


def reverse_decrypt(encrypted: str) -> str:
    return encrypted[::-1]


def nomad_layers(index: int, **job: Any) -> list[Layer]:
    return [
        Layer(
            EXEC_LAYER,
            {
                "image": "registry.example.com/etl",
                "tag": "latest",
                "args": ["--all"],
                "schedule": "0 * * * *",
                "env": {"LOG_LEVEL": "info"},
                "resources": {"cpu": 100, "memory": 256},
            },
        ),
        *templating.dimension_layers(
            [
                ("customer", 10, f"c{index % 3}", {"env.CUSTOMER": f"c{index % 3}"}),
                ("size", 20, "large", {"resources.cpu": 2000}),
            ]
        ),
        Layer("job", {"job_id": f"job-{index}", **job}),
    ]


# --- layers and merging ------------------------------------------------------------------------------------------


def test_layer_names_follow_the_documented_format():
    assert templating.layer_name_execution("hello") == "execution:hello"
    assert templating.layer_name_dimension("customer", "acme") == "dimension:customer=acme"


def test_dimension_layers_sort_by_priority_then_dimension_key():
    layers = templating.dimension_layers(
        [
            ("zone", 5, "eu", {"x": 1}),
            ("customer", 10, "acme", {"x": 2}),
            ("app", 5, "web", {"x": 3}),
        ]
    )
    assert [layer.name for layer in layers] == ["dimension:app=web", "dimension:zone=eu", "dimension:customer=acme"]


def test_merge_prefers_higher_layers_in_order_execution_dimensions_job():
    layers = [
        Layer(EXEC_LAYER, {"a": "exec", "b": "exec", "c": "exec"}),
        *templating.dimension_layers([("high", 9, "v", {"b": "high", "c": "high"}), ("low", 1, "v", {"b": "low"})]),
        Layer("job", {"c": "job"}),
    ]
    params, provenance = templating.params_merge(layers)
    assert params == {"a": "exec", "b": "high", "c": "job"}
    assert provenance == {"a": EXEC_LAYER, "b": "dimension:high=v", "c": "job"}


def test_dotted_key_means_nested_object():
    params, provenance = templating.params_merge([Layer("job", {"resources.cpu": 100})])
    assert params == {"resources": {"cpu": 100}}
    assert provenance == {"resources.cpu": "job"}


def test_dotted_and_nested_keys_combine_within_one_layer():
    params, _ = templating.params_merge([Layer("job", {"a.b": 1, "a": {"c": 2}, "a.d.e": 3})])
    assert params == {"a": {"b": 1, "c": 2, "d": {"e": 3}}}


@pytest.mark.parametrize(
    "params",
    [
        {"a": 1, "a.b": 2},
        {"a.b": 2, "a": 1},
        {"a": {"b": 1}, "a.b": 2},
        {"a.b": {"c": 1}, "a": {"b": {"c": 2}}},
        {"a": {"_striv_type": "secret", "encrypted": "x"}, "a.b": 1},
    ],
)
def test_conflict_inside_one_layer_names_layer_and_key(params):
    with pytest.raises(RenderError) as info:
        templating.params_merge([Layer("dimension:customer=acme", params)])
    assert info.value.layer == "dimension:customer=acme"
    assert info.value.param in params
    assert "conflicts" in str(info.value)
    assert "dimension:customer=acme" in str(info.value)


def test_objects_deep_merge_across_layers():
    params, provenance = templating.params_merge(
        [
            Layer(EXEC_LAYER, {"resources": {"cpu": 100, "memory": 256, "disk": {"size": 1}}}),
            Layer("job", {"resources": {"cpu": 500, "disk": {"iops": 9}}}),
        ]
    )
    assert params == {"resources": {"cpu": 500, "memory": 256, "disk": {"size": 1, "iops": 9}}}
    assert provenance == {
        "resources.cpu": "job",
        "resources.memory": EXEC_LAYER,
        "resources.disk.size": EXEC_LAYER,
        "resources.disk.iops": "job",
    }


def test_arrays_replace_instead_of_merging():
    params, provenance = templating.params_merge(
        [Layer(EXEC_LAYER, {"args": ["--a", "--b"]}), Layer("job", {"args": ["--c"]})]
    )
    assert params == {"args": ["--c"]}
    assert provenance == {"args": "job"}


def test_scalar_replacing_an_object_drops_the_objects_provenance():
    params, provenance = templating.params_merge(
        [Layer(EXEC_LAYER, {"resources": {"cpu": 1, "memory": 2}}), Layer("job", {"resources": None})]
    )
    assert params == {"resources": None}
    assert provenance == {"resources": "job"}


def test_object_replacing_a_scalar_records_its_leaves():
    params, provenance = templating.params_merge([Layer(EXEC_LAYER, {"a": 1}), Layer("job", {"a.b": 2})])
    assert params == {"a": {"b": 2}}
    assert provenance == {"a.b": "job"}


def test_empty_object_is_a_leaf_until_something_merges_into_it():
    params, provenance = templating.params_merge([Layer(EXEC_LAYER, {"labels": {}})])
    assert (params, provenance) == ({"labels": {}}, {"labels": EXEC_LAYER})
    params, provenance = templating.params_merge([Layer(EXEC_LAYER, {"labels": {}}), Layer("job", {"labels.a": "x"})])
    assert (params, provenance) == ({"labels": {"a": "x"}}, {"labels.a": "job"})
    params, provenance = templating.params_merge([Layer(EXEC_LAYER, {"labels.a": "x"}), Layer("job", {"labels": {}})])
    assert (params, provenance) == ({"labels": {"a": "x"}}, {"labels.a": EXEC_LAYER})


def test_merge_does_not_mutate_the_layers():
    lower = {"resources": {"cpu": 1}, "args": [1]}
    upper = {"resources": {"memory": 2}}
    params, _ = templating.params_merge([Layer(EXEC_LAYER, lower), Layer("job", upper)])
    params["resources"]["cpu"] = 99
    params["args"].append(2)
    assert lower == {"resources": {"cpu": 1}, "args": [1]}
    assert upper == {"resources": {"memory": 2}}


def test_nested_object_keys_are_free_form():
    params, provenance = templating.params_merge([Layer("job", {"labels": {"app.kubernetes.io/name": "x"}})])
    assert params == {"labels": {"app.kubernetes.io/name": "x"}}
    assert provenance == {"labels.app.kubernetes.io/name": "job"}


# --- validation ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["1abc", "has-dash", "a b", "", "a..b", "a.", ".a", "é", "_striv_type", "a._striv_type"]
)
def test_invalid_param_key_names_layer_and_key(key):
    with pytest.raises(RenderError) as info:
        templating.params_validate({key: 1}, layer="job")
    assert (info.value.layer, info.value.param) == ("job", key)
    assert "layer job" in str(info.value)
    assert repr(key) in str(info.value)


@pytest.mark.parametrize("key", ["a", "_private", "Resources", "resources.cpu", "a.b.c_1", "a.1"])
def test_valid_param_keys_pass(key):
    templating.params_validate({key: 1}, layer="job")


def test_non_string_top_level_key_is_refused():
    with pytest.raises(RenderError) as info:
        templating.params_validate({1: "x"}, layer="job")
    assert info.value.layer == "job"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"a": {1, 2}}, "a"),
        ({"a": b"bytes"}, "a"),
        ({"a": math.nan}, "a"),
        ({"a": math.inf}, "a"),
        ({"a": {"b": [1, -math.inf]}}, "a.b[1]"),
        ({"a": {"b": object()}}, "a.b"),
        ({"a": {2: "x"}}, "a"),
        ({"a": (1, 2)}, "a"),
    ],
)
def test_non_json_value_names_layer_and_param(params, param):
    with pytest.raises(RenderError) as info:
        templating.params_validate(params, layer="dimension:customer=acme")
    assert (info.value.layer, info.value.param) == ("dimension:customer=acme", param)
    assert "dimension:customer=acme" in str(info.value)
    assert param in str(info.value)


def test_params_that_are_not_an_object_are_refused():
    with pytest.raises(RenderError) as info:
        templating.params_validate(["a"], layer="job")  # type: ignore[arg-type]
    assert info.value.layer == "job"


def test_json_values_pass_validation():
    templating.params_validate(
        {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None, "l": [1, {"x": [None]}], "o": {"k": {}}}, layer="job"
    )


@pytest.mark.parametrize(
    "value",
    [
        {"_striv_type": "secret"},
        {"_striv_type": "secret", "encrypted": 5},
        {"_striv_type": "password", "encrypted": "x"},
        {"_striv_type": "secret", "encrypted": "x", "extra": 1},
    ],
)
def test_malformed_secret_names_layer_and_param(value):
    with pytest.raises(RenderError) as info:
        templating.params_validate({"db": {"password": value}}, layer="job")
    assert (info.value.layer, info.value.param) == ("job", "db.password")
    assert "secret" in str(info.value)


# --- templates -----------------------------------------------------------------------------------------------------


def test_template_sees_merged_params():
    rendered = templating.job_spec_render(
        "{image: params.image, cpu: params.resources.cpu}",
        [Layer(EXEC_LAYER, {"image": "busybox", "resources.cpu": 1}), Layer("job", {"resources": {"cpu": 2}})],
        execution_key=EXECUTION,
    )
    assert rendered.spec == {"image": "busybox", "cpu": 2}
    assert rendered.params == {"image": "busybox", "resources": {"cpu": 2}}
    assert rendered.provenance == {"image": EXEC_LAYER, "resources.cpu": "job"}


def test_template_may_start_with_locals_and_comments():
    rendered = templating.job_spec_render(
        "# comment\nlocal x = params.a;\nlocal y = x * 2;\n{y: y} // trailing",
        [Layer("job", {"a": 2})],
        execution_key="e",
    )
    assert rendered.spec == {"y": 4}


def test_syntax_error_names_execution_line_and_column():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render("{\n  a: 1,\n  b: }\n", [], execution_key="foo")
    error = info.value
    assert (error.kind, error.line, error.column, error.layer, error.param) == ("syntax", 3, 6, None, None)
    assert "template of execution foo" in str(error)
    assert "line 3, column 6" in str(error)


def test_syntax_error_on_first_line_reports_the_templates_own_column():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render("{a: 1, a: 2}", [], execution_key="foo")
    assert (info.value.line, info.value.column) == (1, 8)
    assert "Duplicate field" in str(info.value)


def test_unknown_variable_is_a_syntax_error():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render("{a: nope}", [], execution_key="foo")
    assert (info.value.kind, info.value.line, info.value.column) == ("syntax", 1, 5)
    assert "nope" in str(info.value)


def test_runtime_error_names_execution_line_and_column():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render('{\n  a: error "boom",\n}', [], execution_key="foo")
    error = info.value
    assert (error.kind, error.line, error.column) == ("runtime", 2, 6)
    assert str(error) == "template of execution foo failed at line 2, column 6: boom"


def test_runtime_error_on_first_line_and_missing_param():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render("{a: params.missing}", [Layer("job", {"b": 1})], execution_key="foo")
    assert (info.value.line, info.value.column) == (1, 5)
    assert "missing" in str(info.value)


def test_error_from_a_std_function_points_at_the_calling_line():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render("{\n a: std.assertEqual(1, 2)}", [], execution_key="foo")
    assert info.value.line == 2
    assert "1 != 2" in str(info.value)


@pytest.mark.parametrize(
    ("template", "type_name"),
    [("[1, 2]", "array"), ('"x"', "string"), ("3", "number"), ("null", "null"), ("true", "boolean")],
)
def test_template_must_evaluate_to_an_object(template, type_name):
    with pytest.raises(RenderError) as info:
        templating.job_spec_render(template, [], execution_key="foo")
    assert info.value.kind == "result"
    assert str(info.value) == f"template of execution foo must evaluate to an object, got {type_name}"


def test_import_in_template_is_refused():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render('local lib = import "lib.libsonnet";\n{a: lib.x}', [], execution_key="foo")
    assert "imports are not allowed" in str(info.value)
    assert info.value.line == 1


def test_importstr_in_template_reads_no_file():
    many = [[Layer("job", {"n": index})] for index in range(templating.BATCH_CHUNK_SIZE * 2 + 1)]
    results = templating.job_specs_render('{a: importstr "/etc/hostname", n: params.n}', many, execution_key="foo")
    assert all(isinstance(result, Rendered) for result in results)
    assert {"imports are not allowed" in result.spec["a"] for result in results} == {True}  # type: ignore[union-attr]


def test_template_check_reports_only_syntax_errors():
    templating.template_check("{a: params.anything.at.all}", execution_key="foo")
    templating.template_check("[1]", execution_key="foo")
    with pytest.raises(RenderError) as info:
        templating.template_check("{a: }", execution_key="foo")
    assert (info.value.kind, info.value.line, info.value.column) == ("syntax", 1, 5)


def test_render_error_pickles_and_copies_with_its_attributes():
    error = RenderError("bad thing", layer="job", param="a.b", line=2, column=3, kind="runtime")
    for clone in (pickle.loads(pickle.dumps(error)), error.copy()):
        assert (clone.message, clone.layer, clone.param, clone.line, clone.column, clone.kind) == (
            "bad thing",
            "job",
            "a.b",
            2,
            3,
            "runtime",
        )
        assert str(clone) == "bad thing"


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        templating.job_spec_render("{}", [], execution_key="foo", mode="apply")  # type: ignore[arg-type]


# --- secrets -------------------------------------------------------------------------------------------------------

SECRET_LAYERS = [
    Layer(EXEC_LAYER, {"env": {"USER": "app"}}),
    Layer("dimension:customer=acme", {"env.PASSWORD": secret("terces")}),
]


def test_preview_redacts_secrets_in_template_and_params():
    rendered = templating.job_spec_render("{env: params.env}", SECRET_LAYERS, execution_key=EXECUTION)
    assert rendered.spec == {"env": {"USER": "app", "PASSWORD": "<redacted>"}}
    assert rendered.params == {"env": {"USER": "app", "PASSWORD": "<redacted>"}}
    assert rendered.provenance["env.PASSWORD"] == "dimension:customer=acme"


def test_push_decrypts_secrets_for_the_template_only():
    rendered = templating.job_spec_render(
        "{env: params.env}", SECRET_LAYERS, execution_key=EXECUTION, mode="push", decrypt=reverse_decrypt
    )
    assert rendered.spec == {"env": {"USER": "app", "PASSWORD": "secret"}}
    assert rendered.params["env"]["PASSWORD"] == "<redacted>"


def test_push_without_key_names_param_and_layer():
    with pytest.raises(RenderError) as info:
        templating.job_spec_render("{}", SECRET_LAYERS, execution_key=EXECUTION, mode="push", decrypt=None)
    error = info.value
    assert (error.layer, error.param, error.kind) == ("dimension:customer=acme", "env.PASSWORD", "secret")
    assert str(error) == (
        "secret param env.PASSWORD in layer dimension:customer=acme needs an encryption key, none is configured"
    )


def test_push_with_failing_decrypt_wraps_the_message():
    def broken(encrypted: str) -> str:
        raise ValueError("wrong key")

    with pytest.raises(RenderError) as info:
        templating.job_spec_render("{}", SECRET_LAYERS, execution_key=EXECUTION, mode="push", decrypt=broken)
    assert (info.value.layer, info.value.param) == ("dimension:customer=acme", "env.PASSWORD")
    assert "wrong key" in str(info.value)
    assert "env.PASSWORD" in str(info.value)


def test_secret_inside_an_array_is_found_and_decrypted():
    layers = [Layer("job", {"args": ["--token", secret("cba")]})]
    rendered = templating.job_spec_render(
        "{args: params.args}", layers, execution_key=EXECUTION, mode="push", decrypt=reverse_decrypt
    )
    assert rendered.spec == {"args": ["--token", "abc"]}
    assert rendered.params == {"args": ["--token", "<redacted>"]}
    assert list(templating.iter_secrets(layers[0].params)) == [("args[1]", secret("cba"))]


def test_secret_replaces_and_is_replaced_as_a_leaf():
    params, provenance = templating.params_merge(
        [Layer(EXEC_LAYER, {"db": {"password": "plain"}}), Layer("job", {"db": secret("x")})]
    )
    assert params == {"db": secret("x")}
    assert provenance == {"db": "job"}
    params, provenance = templating.params_merge(
        [Layer(EXEC_LAYER, {"db": secret("x")}), Layer("job", {"db.user": "u"})]
    )
    assert params == {"db": {"user": "u"}}
    assert provenance == {"db.user": "job"}


def test_iter_secrets_walks_raw_and_merged_params():
    raw = {"env.PASSWORD": secret("a"), "nested": {"deep": {"token": secret("b")}}, "plain": {"x": 1}}
    assert list(templating.iter_secrets(raw)) == [("env.PASSWORD", secret("a")), ("nested.deep.token", secret("b"))]
    merged, _ = templating.params_merge([Layer("job", raw)])
    assert [path for path, _ in templating.iter_secrets(merged)] == ["env.PASSWORD", "nested.deep.token"]


# --- batch ---------------------------------------------------------------------------------------------------------


def test_batch_equals_single_renders():
    many = [nomad_layers(index) for index in range(30)]
    batch = templating.job_specs_render(NOMAD_TEMPLATE, many, execution_key=EXECUTION)
    single = [templating.job_spec_render(NOMAD_TEMPLATE, layers, execution_key=EXECUTION) for layers in many]
    assert batch == single
    assert batch[4].spec["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] == {"LOG_LEVEL": "info", "CUSTOMER": "c1"}


def test_batch_isolates_bad_jobs_across_chunks():
    count = templating.BATCH_CHUNK_SIZE * 2 + 17
    many = [nomad_layers(index) for index in range(count)]
    many[5] = nomad_layers(5, **{"resources.cpu": "many"})  # the template adds no number: still fine
    many[42] = [*nomad_layers(42)[:-1], Layer("job", {})]  # no job_id: runtime error
    many[150] = [*nomad_layers(150)[:-1], Layer("job", {"bad-key": 1})]
    results = templating.job_specs_render(NOMAD_TEMPLATE, many, execution_key=EXECUTION)
    assert len(results) == count
    assert isinstance(results[42], RenderError) and results[42].kind == "runtime"
    assert "job_id" in str(results[42])
    assert isinstance(results[150], RenderError) and (results[150].layer, results[150].param) == ("job", "bad-key")
    for index in (0, 5, 41, 43, 149, 151, count - 1):
        assert results[index] == templating.job_spec_render(NOMAD_TEMPLATE, many[index], execution_key=EXECUTION)


def test_batch_reports_non_object_results_per_job():
    many = [[Layer("job", {"obj": True})], [Layer("job", {"obj": False})]] * 10
    results = templating.job_specs_render("if params.obj then {} else [1]", many, execution_key="foo")
    assert all(isinstance(result, Rendered) for result in results[0::2])
    assert all(isinstance(result, RenderError) and result.kind == "result" for result in results[1::2])


def test_batch_with_broken_template_gives_every_valid_job_the_syntax_error():
    many = [[Layer("job", {"a": 1})], [Layer("job", {"a-b": 1})], [Layer("job", {"a": 2})]]
    results = templating.job_specs_render("{a: }", many, execution_key="foo")
    assert [result.kind for result in results] == ["syntax", "params", "syntax"]  # type: ignore[union-attr]
    assert results[0] is not results[2]


def test_batch_does_not_complete_a_template_that_fails_alone():
    # Wrapped as a function body, this text would close the wrapper and parse; alone it is a syntax error.
    template = "{}); local y = (1"
    many = [[Layer("job", {})] for _ in range(20)]
    results = templating.job_specs_render(template, many, execution_key="foo")
    with pytest.raises(RenderError) as info:
        templating.job_spec_render(template, many[0], execution_key="foo")
    assert all(isinstance(result, RenderError) and result.message == info.value.message for result in results)


def test_batch_push_decrypts_each_job():
    many = [[Layer(EXEC_LAYER, {"pw": secret(f"{index}x")})] for index in range(templating.BATCH_CHUNK_SIZE + 3)]
    results = templating.job_specs_render(
        "{pw: params.pw}", many, execution_key=EXECUTION, mode="push", decrypt=reverse_decrypt
    )
    expected = [{"pw": f"{index}x"[::-1]} for index in range(len(many))]
    assert [result.spec for result in results] == expected  # type: ignore[union-attr]


def test_batch_shares_expansion_of_reused_layers_without_leaking_between_jobs():
    shared = Layer(EXEC_LAYER, {"resources.cpu": 1, "labels": {"a": "x"}})
    many = [[shared, Layer("job", {"resources.memory": index, "labels.b": str(index)})] for index in range(20)]
    results = templating.job_specs_render("{p: params}", many, execution_key=EXECUTION)
    for index, result in enumerate(results):
        assert result.spec == {"p": {"resources": {"cpu": 1, "memory": index}, "labels": {"a": "x", "b": str(index)}}}
    assert shared.params == {"resources.cpu": 1, "labels": {"a": "x"}}


def _shared_estate() -> tuple[list[Layer], list[list[Layer]], list[list[Layer]]]:
    """Execution and dimension layers shared by many jobs, as the jobs services pass them."""
    executions = [
        Layer(EXEC_LAYER, {"resources.cpu": 1, "env": {"A": "x", "B": "y"}, "args": ["a"], "db": {"host": "h"}}),
        Layer("execution:other", {"resources": {"cpu": 2, "memory": 64}, "db": secret("pw")}),
    ]
    sizes = [
        Layer("dimension:size=small", {"resources.memory": 128}),
        Layer("dimension:size=big", {"resources": {"cpu": 8}, "env.A": "big"}),
        Layer("dimension:size=none", {}),
    ]
    customers = [
        Layer("dimension:customer=acme", {"env": {"C": "acme"}, "db": {"host": "acme-db", "password": secret("a")}}),
        Layer("dimension:customer=beta", {"env": "flat", "resources.memory": 512}),
        Layer("dimension:customer=gamma", {"db": "none", "args": {"replaced": True}}),
    ]
    return executions, [sizes], [customers]


def _shared_jobs(count: int) -> list[list[Layer]]:
    executions, (sizes,), (customers,) = _shared_estate()
    many = []
    for index in range(count):
        job: dict[str, Any] = {"n": index}
        if index % 4 == 1:
            job["env.J"] = str(index)
        if index % 5 == 2:
            job["resources"] = {"cpu": index}
        if index % 7 == 3:
            job = {}
        many.append([executions[index % 2], sizes[index % 3], customers[(index // 3) % 3], Layer("job", job)])
    return many


def test_batch_with_shared_layers_equals_single_renders_with_provenance():
    many = _shared_jobs(60)
    batch = templating.job_specs_render("{p: params}", many, execution_key=EXECUTION)
    for layers, result in zip(many, batch, strict=True):
        single = templating.job_spec_render("{p: params}", layers, execution_key=EXECUTION)
        assert result == single
        assert list(result.provenance.items()) == list(single.provenance.items())
        assert list(result.params) == list(single.params)


def test_batch_push_with_shared_secret_layers_equals_single_renders():
    many = _shared_jobs(40)
    batch = templating.job_specs_render(
        "{p: params}", many, execution_key=EXECUTION, mode="push", decrypt=reverse_decrypt
    )
    for layers, result in zip(many, batch, strict=True):
        single = templating.job_spec_render(
            "{p: params}", layers, execution_key=EXECUTION, mode="push", decrypt=reverse_decrypt
        )
        assert result == single
    assert batch[0].spec["p"]["db"] == {"host": "acme-db", "password": "a"}  # type: ignore[union-attr]
    assert batch[0].params["db"]["password"] == templating.REDACTED  # type: ignore[union-attr]


def test_batch_never_changes_shared_layers_or_earlier_results():
    many = _shared_jobs(30)
    before = pickle.loads(pickle.dumps(many))
    first = templating.job_specs_render("{p: params}", many, execution_key=EXECUTION)
    snapshot = pickle.loads(pickle.dumps(first))
    second = templating.job_specs_render("{p: params}", many, execution_key=EXECUTION)
    assert [[layer.params for layer in layers] for layers in many] == [
        [layer.params for layer in layers] for layers in before
    ]
    assert first == snapshot == second


def test_batch_tells_apart_one_params_object_under_two_layer_names():
    shared = {"region": "eu", "env.R": "1"}
    many = [
        [Layer(EXEC_LAYER, shared), Layer("dimension:a=x", {"env.A": "a"}), Layer("job", {})],
        [Layer("dimension:a=y", shared), Layer("job", {"n": 1})],
        [Layer(EXEC_LAYER, shared), Layer("dimension:a=x", {"env.A": "b"}), Layer("job", {})],
    ]
    results = templating.job_specs_render("{p: params}", many, execution_key=EXECUTION)
    assert results[0].provenance["region"] == EXEC_LAYER  # type: ignore[union-attr]
    assert results[1].provenance["region"] == "dimension:a=y"  # type: ignore[union-attr]
    assert results[2].spec == {"p": {"region": "eu", "env": {"R": "1", "A": "b"}}}  # type: ignore[union-attr]


def test_batch_reports_a_bad_shared_layer_for_every_job_using_it():
    bad = Layer("dimension:size=bad", {"bad key": 1})
    good = Layer("dimension:size=good", {"size": 1})
    many = [[bad, Layer("job", {})], [good, Layer("job", {})], [bad, Layer("job", {"n": 2})]]
    results = templating.job_specs_render("{p: params}", many, execution_key=EXECUTION)
    assert isinstance(results[0], RenderError) and results[0].layer == "dimension:size=bad"
    assert results[1].spec == {"p": {"size": 1}}  # type: ignore[union-attr]
    assert isinstance(results[2], RenderError) and results[2] is not results[0]


def test_batch_of_nothing_is_empty():
    assert templating.job_specs_render("{a: }", [], execution_key="foo") == []


# --- spec hash -----------------------------------------------------------------------------------------------------


def test_spec_hash_ignores_key_order_and_detects_changes():
    first = templating.spec_hash({"a": 1, "b": {"c": [1, 2], "d": "é"}})
    assert first == templating.spec_hash({"b": {"d": "é", "c": [1, 2]}, "a": 1})
    assert first != templating.spec_hash({"a": 1, "b": {"c": [2, 1], "d": "é"}})
    assert len(first) == 64


def test_spec_hash_is_sha256_of_canonical_json():
    # sha256 of '{"a":1,"b":[true,null]}'
    assert templating.spec_hash({"b": [True, None], "a": 1}) == (
        "1cc69c7fa23616ca2ec3ee70d24390a6225c8832db8a4c814c7e0e7f942f8668"
    )


# --- properties ----------------------------------------------------------------------------------------------------

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda key: key != "_striv_type")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(identifiers, children, max_size=3)),
    max_leaves=10,
)
nested_objects = st.recursive(
    st.dictionaries(identifiers, scalars, max_size=3),
    lambda children: st.dictionaries(identifiers, st.one_of(scalars, children), max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(identifiers, scalars, max_size=5), min_size=1, max_size=6))
def test_property_highest_layer_wins_for_scalars(layer_params):
    layers = [Layer(f"layer{index}", params) for index, params in enumerate(layer_params)]
    params, provenance = templating.params_merge(layers)
    for key in params:
        winner = max(index for index, values in enumerate(layer_params) if key in values)
        assert params[key] == layer_params[winner][key]
        assert provenance[key] == f"layer{winner}"
    assert set(params) == set().union(*layer_params)


def _leaves(tree: dict, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, (*prefix, key)))
        else:
            out[(*prefix, key)] = value
    return out


def _get(tree: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _has(tree: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def _reference_merge(lower: dict, upper: dict) -> dict:
    out = dict(lower)
    for key, value in upper.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _reference_merge(out[key], value)
        else:
            out[key] = value
    return out


@settings(max_examples=150, deadline=None)
@given(nested_objects, nested_objects)
def test_property_deep_merge_keeps_keys_set_only_in_lower_layers(lower, upper):
    params, provenance = templating.params_merge([Layer("lower", lower), Layer("upper", upper)])
    assert params == _reference_merge(lower, upper)
    for path, value in _leaves(lower).items():
        only_lower = not _has(upper, path) and not any(
            _has(upper, path[:n]) and not isinstance(_get(upper, path[:n]), dict) for n in range(1, len(path))
        )
        if only_lower:
            assert _get(params, path) == value
            assert provenance[".".join(path)] == "lower"


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(nested_objects, min_size=1, max_size=4),
    st.lists(st.lists(st.integers(min_value=0, max_value=3), min_size=0, max_size=3), min_size=1, max_size=8),
    st.lists(nested_objects, min_size=1, max_size=8),
)
def test_property_batch_with_shared_layers_equals_single_renders(pool, stacks, own):
    shared = [Layer(f"dimension:d=v{index}", params) for index, params in enumerate(pool)]
    many = [
        [*(shared[index % len(shared)] for index in stack), Layer("job", own[number % len(own)])]
        for number, stack in enumerate(stacks)
    ]
    batch = templating.job_specs_render("{p: params}", many, execution_key=EXECUTION)
    for layers, result in zip(many, batch, strict=True):
        single = templating.job_spec_render("{p: params}", layers, execution_key=EXECUTION)
        assert result == single
        assert list(result.provenance.items()) == list(single.provenance.items())


@settings(max_examples=150, deadline=None)
@given(nested_objects)
def test_property_dotted_keys_equal_the_nested_object(tree):
    assert templating.params_merge([Layer("job", _flatten(tree))]) == templating.params_merge([Layer("job", tree)])


@settings(max_examples=100, deadline=None)
@given(st.lists(identifiers, min_size=1, max_size=4), json_values)
def test_property_one_dotted_key_equals_its_nested_path(parts, value):
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    dotted = templating.params_merge([Layer("job", {".".join(parts): value})])
    assert dotted == templating.params_merge([Layer("job", nested)])
    assert _get(dotted[0], tuple(parts)) == value


# --- layer names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "parts", "label"),
    [
        (
            templating.LayerName.execution("greeter"),
            "execution:greeter",
            ("execution", "greeter", ""),
            "execution greeter",
        ),
        (
            templating.LayerName.dimension("customer", "acme"),
            "dimension:customer=acme",
            ("dimension", "customer", "acme"),
            "customer = acme",
        ),
        (templating.LayerName.job(), "job", ("job", "", ""), "job"),
    ],
)
def test_layer_names_are_their_text_and_keep_their_parts(name, text, parts, label):
    import json
    import pickle

    assert name == text and str(name) == text and hash(name) == hash(text)
    assert (name.kind, name.key, name.value) == parts and name.label == label
    assert json.dumps({"layer": name}) == json.dumps({"layer": text})
    again = pickle.loads(pickle.dumps(name))
    assert again == name and (again.kind, again.key, again.value) == parts


def test_render_errors_carry_the_layer_name_with_its_parts():
    layers = [Layer(templating.LayerName.dimension("customer", "acme"), {"bad key": 1})]
    with pytest.raises(RenderError) as info:
        templating.params_merge(layers)
    layer = info.value.layer
    assert isinstance(layer, templating.LayerName) and (layer.kind, layer.key, layer.value) == (
        "dimension",
        "customer",
        "acme",
    )


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 10**30])
def test_integers_templates_cannot_hold_exactly_are_refused_naming_the_param(value):
    with pytest.raises(RenderError, match=r"param env\.BIG in layer job is .* beyond what templates can hold"):
        templating.params_validate({"env": {"BIG": value}}, layer="job")
    with pytest.raises(RenderError, match="param n in layer job"):
        templating.params_validate({"n": value}, layer="job")


def test_integers_up_to_2_53_pass():
    templating.params_validate({"n": 2**53, "m": -(2**53), "l": [2**53]}, layer="job")
