"""One method per SQL API function, and one function per method, read from the catalog.

Every function granted to cdlstore_app has exactly one method (named after it, calling it through
``self._call("schema.function", **named)`` with its own parameter names), unless cdlstore.api
declares it SQL-only or covered by a helper; every method calls exactly one function. Helpers
(pagers, listeners, file readers, the export stream) and the deprecated aliases are declared in
cdlstore.api and stay outside the one-to-one check. ``problems`` is the check itself; the
negative cases below show that it fails when a function has no method, when a method calls two
functions, or when a name does not follow its function."""

from __future__ import annotations

import ast
import inspect
import textwrap
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import pytest

from cdlstore import Client, api
from cdlstore.characters import Characters
from cdlstore.client import Meta
from cdlstore.documents import Documents
from cdlstore.domain import Domain, RenamedWarning, alias, iterator, method
from cdlstore.game import Game
from cdlstore.operations import Operations
from cdlstore.workflows import Workflows

CLASSES: dict[str, type[Domain[Any]]] = {
    "characters": Characters,
    "workflows": Workflows,
    "documents": Documents,
    "operations": Operations,
    "game": Game,
    "meta": Meta,
}


@dataclass
class Method:
    name: str  # domain.method
    parameters: list[str]
    calls: list[tuple[str, list[str]]] = field(default_factory=list)  # (function, keywords)


def definition(attr: Any) -> Any:
    """The coroutine function behind a method, iterator or keyword-renaming alias; else None."""
    if isinstance(attr, alias):
        attr = attr.inner
    if isinstance(attr, method | iterator):
        return inspect.unwrap(attr.fn)
    return None


def read_methods() -> dict[str, Method]:
    """Every method of the domain classes, with the ``_call``s its source makes."""
    found: dict[str, Method] = {}
    for domain, cls in CLASSES.items():
        for name, attr in vars(cls).items():
            fn = definition(attr)
            if fn is None:
                continue
            params = [p for p in inspect.signature(fn).parameters if p != "self"]
            m = Method(f"{domain}.{name}", params)
            for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "_call"
                ):
                    target = node.args[0]
                    assert isinstance(target, ast.Constant), f"{m.name}: _call of a literal name"
                    m.calls.append((target.value, keywords(m.name, node)))
            found[m.name] = m
    return found


def keywords(name: str, call: ast.Call) -> list[str]:
    """The argument names of a ``_call``: named ones, or ``**given(name=...)`` (the arguments
    that are not None; the others take the SQL default)."""
    found = []
    for k in call.keywords:
        if k.arg is not None:
            found.append(k.arg)
            continue
        given = k.value
        assert (
            isinstance(given, ast.Call)
            and isinstance(given.func, ast.Name)
            and given.func.id == "given"
            and not given.args
        ), f"{name}: _call with ** of something else than given(...)"
        found.extend(str(g.arg) for g in given.keywords)
    return found


def problems(
    functions: dict[str, set[str]],
    methods: dict[str, Method],
    helpers: dict[str, tuple[str, ...]],
    sql_only: dict[str, str],
) -> list[str]:
    """What breaks the rule. ``functions``: schema.name -> its input parameter names (of every
    overload) for each API function granted to cdlstore_app."""
    out: list[str] = []
    callers: dict[str, list[str]] = {f: [] for f in functions}
    for m in methods.values():
        if m.name in helpers:
            if m.calls:
                out.append(f"helper {m.name} calls _call itself")
            continue
        if len(m.calls) != 1:
            out.append(f"method {m.name} calls {len(m.calls)} functions, not one")
            continue
        function, keywords = m.calls[0]
        if function not in functions:
            out.append(f"method {m.name} calls {function}, no API function")
            continue
        callers[function].append(m.name)
        if m.name.split(".")[1] != function.split(".")[1]:
            out.append(f"method {m.name} is not named after {function}")
        strange = [k for k in [*keywords, *m.parameters] if k not in functions[function]]
        if strange:
            out.append(f"method {m.name}: {strange} are not parameters of {function}")
    covered = {f for over in helpers.values() for f in over}
    for h, over in helpers.items():
        if h not in methods:
            out.append(f"helper {h} is no method")
        out.extend(f"helper {h} goes over {f}, no API function" for f in over if f not in functions)
    for function, names in callers.items():
        if len(names) > 1:
            out.append(f"{function} has {len(names)} methods: {', '.join(sorted(names))}")
        elif not names and function not in covered and function not in sql_only:
            out.append(f"{function} has no method")
    out.extend(f"SQL-only {f} is no API function" for f in sql_only if f not in functions)
    out.extend(f"SQL-only {f} has a method" for f in sql_only if callers.get(f))
    return out


@pytest.fixture
def functions(conn: psycopg.Connection[Any]) -> dict[str, set[str]]:
    rows = conn.execute(
        """SELECT n.nspname || '.' || p.proname,
                  coalesce(p.proargnames[1:p.pronargs], '{}')
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game')
             AND has_function_privilege('cdlstore_app', p.oid, 'EXECUTE')"""
    ).fetchall()
    found: dict[str, set[str]] = {}
    for name, args in rows:
        found.setdefault(name, set()).update(args)
    return found


def test_every_api_function_has_one_method_and_every_method_one_function(
    functions: dict[str, set[str]],
) -> None:
    assert len(functions) > 90  # the catalog was read
    assert problems(functions, read_methods(), api.HELPERS, api.SQL_ONLY) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # a new API function without a method
        (lambda f, m: f.update({"ops.brand_new": set()}), "ops.brand_new has no method"),
        # a method dropped: its function has none
        (lambda f, m: m.pop("operations.claim_tasks"), "ops.claim_tasks has no method"),
        # a method calling two functions
        (
            lambda f, m: m["game.award_badge"].calls.append(("game.create_account", [])),
            "method game.award_badge calls 2 functions, not one",
        ),
        # a method named otherwise than its function
        (
            lambda f, m: m.update(
                {
                    "operations.claim": replace(
                        m.pop("operations.claim_tasks"), name="operations.claim"
                    )
                }
            ),
            "method operations.claim is not named after ops.claim_tasks",
        ),
        # a keyword that is no parameter of the function
        (
            lambda f, m: m["game.get_scenario_leaderboard"].parameters.append("limit"),
            "method game.get_scenario_leaderboard: ['limit'] are not parameters of "
            "game.get_scenario_leaderboard",
        ),
        # two methods of one function
        (
            lambda f, m: m.update({"documents.put_document2": m["documents.put_document"]}),
            "docstore.put_document has 2 methods",
        ),
    ],
)
def test_the_check_fails_when_the_rule_is_broken(
    functions: dict[str, set[str]], change: Any, expected: str
) -> None:
    methods = read_methods()
    change(functions, methods)
    found = problems(functions, methods, api.HELPERS, api.SQL_ONLY)
    assert any(p.startswith(expected) for p in found), found


def test_no_api_function_returns_a_set_of_a_scalar(conn: psycopg.Connection[Any]) -> None:
    """``_call`` tells a scalar function's one value from rows by its column name; a set of a
    scalar type would be taken for one value."""
    rows = conn.execute(
        """SELECT p.oid::regprocedure::text
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           JOIN pg_type t ON t.oid = p.prorettype
           WHERE n.nspname IN ('cdl', 'docstore', 'ops', 'game')
             AND has_function_privilege('cdlstore_app', p.oid, 'EXECUTE')
             AND p.proretset AND t.typtype IN ('b', 'd', 'e')"""
    ).fetchall()
    assert rows == []


def test_each_alias_warns_and_calls_its_method() -> None:
    """Every row of cdlstore.api.ALIASES: the old name warns with RenamedWarning and reaches
    the new method with its keywords renamed."""
    seen: list[tuple[str, Any, Any]] = []

    class Recorder:
        is_async = False

    for cls, names in api.ALIASES.items():
        for old, (new, params) in names.items():
            domain = cls(Recorder())  # type: ignore[arg-type]
            descriptor = vars(cls)[old]
            assert isinstance(descriptor, alias)
            target = lambda *a, _n=new, **k: seen.append((_n, a, k)) or "result"  # noqa: E731
            kwargs = {p: f"value of {p}" for p in params}
            with pytest.warns(RenamedWarning, match=old):
                assert descriptor._call(target, "positional", **kwargs) == "result"
            assert seen.pop() == (new, ("positional",), {params[p]: kwargs[p] for p in params})
            assert callable(getattr(domain, old))
            if old == new:  # a keyword rename only: the new keywords do not warn
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    descriptor._call(target, "positional")
                seen.pop()


def test_an_old_name_works_against_the_database(client: Client) -> None:
    """One alias per kind end to end: a renamed method and a renamed keyword."""
    with pytest.warns(RenamedWarning, match="characters.import_json"):
        character_id = client.characters.import_json(  # type: ignore[attr-defined]
            document={"identity": {"name": "Old Name"}}
        )
    with pytest.warns(RenamedWarning, match="key= -> knowledge_key="):
        client.characters.upsert_knowledge(  # type: ignore[call-arg]
            name="old_name", knowledge_type="facts", key="k", content="c"
        )
    character = client.characters.get_character_complete("old_name")
    assert character.id == character_id
    assert [k.knowledge_key for k in character.knowledge] == ["k"]
