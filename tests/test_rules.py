"""SymbolicRuleEngine: parsing, semantics on programs with known answers, proofs, bounds, bad input."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurolite_sdk.reasoning import Fact, InferenceLimitError, RuleError, SymbolicRuleEngine, parse_fact
from neurolite_sdk.reasoning.logic_parser import parse_literal

ROOT = Path(__file__).resolve().parents[1]
SNIPS_RULES = ROOT / "examples" / "rules" / "snips_followups.json"
RULES_SCHEMA = ROOT / "neurolite_sdk" / "reasoning" / "rules.schema.json"

# The seed project's own rules.json (NeuroLite, French predicate names).
SEED = {
    "facts": ["estParentDe(jean, paul)", "estParentDe(paul, marie)", "estParentDe(alice, jacques)",
              "estOiseau(titi)", "peutVoler(titi)", "estOiseau(pingu)", "estMammifere(felix)",
              "estChat(felix)", "miaule(felix)"],
    "rules": [
        {"premises": ["estParentDe(?x, ?y)", "estParentDe(?y, ?z)"],
         "conclusion": "estGrandParentDe(?x, ?z)"},
        {"premises": ["estOiseau(?x)", "NOT peutVoler(?x)"], "conclusion": "estManchot(?x)"},
        {"premises": ["estChat(?x)", "miaule(?x)"], "conclusion": "estAnimalDomestiqueContent(?x)"},
        {"premises": ["estMammifere(?x)"], "conclusion": "respireAir(?x)"},
        {"premises": ["estGrandParentDe(?gp, ?gc)", "estParentDe(?gp, ?p)"],
         "conclusion": "oncleOuTantePossible(?p, ?gc)"},
    ],
}

CLOSURE = [{"premises": ["edge(?x, ?y)"], "conclusion": "path(?x, ?y)"},
           {"premises": ["edge(?x, ?y)", "path(?y, ?z)"], "conclusion": "path(?x, ?z)"}]


def derived(engine: SymbolicRuleEngine, transient: list[str] | None = None) -> set[str]:
    return {str(f) for f in engine.query(transient or []).derived}


# -- parsing -------------------------------------------------------------------------------------------

def test_facts_are_canonical_tuples() -> None:
    assert parse_fact("p(a,b)") == parse_fact("  p( a ,  b )") == Fact("p", ("a", "b"))
    assert parse_fact('city("new york")') == Fact("city", ("new york",))
    assert parse_fact('p("a")') == parse_fact("p(a)")
    assert parse_fact("sunny") == parse_fact("sunny()") == Fact("sunny", ())
    assert str(parse_fact('say("he said \\"hi\\"", x-1.5)')) == 'say("he said \\"hi\\"", x-1.5)'
    assert parse_literal("NOT q(?x)").negated and not parse_literal("NOTE(x)").negated


@pytest.mark.parametrize("text, column", [("p(a", 4), ("p(a,)", 5), ("(a)", 1), ("p(a) q", 6), ('p("a)', 6),
                                           ("p(?)", 4), ("", 1), ("p(a b)", 5), ('p("\\n")', 5)])
def test_unparsable_facts_name_the_column(text: str, column: int) -> None:
    with pytest.raises(RuleError, match=f"at column {column}"):
        parse_fact(text)


def test_a_fact_must_be_ground() -> None:
    with pytest.raises(RuleError, match=r"not ground.*\?x"):
        parse_fact("p(?x, a)")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('pqNOT not(),?"\\ xa1_-.\n\t'), max_size=24) | st.text(max_size=12))
def test_the_parser_raises_nothing_but_rule_error(text: str) -> None:
    for parse in (parse_fact, parse_literal):
        try:
            parse(text)
        except RuleError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), st.lists(st.text(max_size=8), max_size=4))
def test_facts_round_trip_through_their_text(predicate: str, args: list[str]) -> None:
    fact = Fact(predicate, tuple(args))
    assert parse_fact(str(fact)) == fact


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8)
literal_texts = st.sampled_from(["p(?x)", "NOT q(?x)", "r(?x, ?y)", "p(a)", "q(?y)", "p(", "NOT", "s"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({"premises": st.lists(literal_texts, max_size=3) | json_values,
                                       "conclusion": literal_texts | json_values}) | json_values, max_size=3),
       st.lists(literal_texts | json_values, max_size=3))
def test_any_rule_set_loads_or_raises_rule_error(rules: Any, facts: Any) -> None:
    try:
        SymbolicRuleEngine.from_dict({"rules": rules, "facts": facts}).query()
    except RuleError:
        pass


# -- semantics -----------------------------------------------------------------------------------------

def test_the_seed_rules_derive_what_they_mean() -> None:
    assert derived(SymbolicRuleEngine.from_dict(SEED)) == {
        "estGrandParentDe(jean, marie)", "estManchot(pingu)", "estAnimalDomestiqueContent(felix)",
        "respireAir(felix)", "oncleOuTantePossible(paul, marie)"}


@pytest.mark.parametrize("strategy", ["semi-naive", "naive"])
def test_transitive_closure_of_a_chain_and_a_cycle(strategy: str) -> None:
    chain = SymbolicRuleEngine(CLOSURE, [f"edge(n{i}, n{i + 1})" for i in range(6)], strategy=strategy)
    assert derived(chain) == {f"path(n{i}, n{j})" for i in range(7) for j in range(i + 1, 7)}
    cycle = derived(chain, ["edge(n6, n0)"])
    assert cycle == {f"path(n{i}, n{j})" for i in range(7) for j in range(7)}


def test_ancestors_with_a_repeated_variable_and_constants() -> None:
    rules = [{"premises": ["parent(?x, ?y)"], "conclusion": "ancestor(?x, ?y)"},
             {"premises": ["ancestor(?x, ?y)", "ancestor(?y, ?z)"], "conclusion": "ancestor(?x, ?z)"},
             {"premises": ["ancestor(?x, ?x)"], "conclusion": "own_ancestor(?x)"},
             {"premises": ["ancestor(adam, ?y)"], "conclusion": "descends_from_adam(?y)"}]
    facts = ["parent(adam, cain)", "parent(cain, enoch)", "parent(enoch, irad)", "parent(loop, loop)"]
    result = SymbolicRuleEngine(rules, facts).query()
    assert {b["y"] for b in result.find("descends_from_adam(?y)")} == {"cain", "enoch", "irad"}
    assert result.find("own_ancestor(?x)") == [{"x": "loop"}]
    assert result.holds("ancestor(adam, irad)") and not result.holds("ancestor(irad, adam)")
    assert result.find("ancestor(adam, irad)") == [{}] and result.find("ancestor(irad, adam)") == []


def test_negation_is_evaluated_stratum_by_stratum() -> None:
    rules = [{"premises": ["edge(?x, ?y)"], "conclusion": "reach(?x, ?y)"},
             {"premises": ["reach(?x, ?y)", "edge(?y, ?z)"], "conclusion": "reach(?x, ?z)"},
             {"premises": ["node(?x)", "NOT reach(start, ?x)"], "conclusion": "unreachable(?x)"},
             {"premises": ["node(?x)", "NOT unreachable(?x)"], "conclusion": "reachable(?x)"},
             {"premises": ["unreachable(?x)", "NOT reach(?x, start)"], "conclusion": "isolated(?x)"}]
    facts = ["edge(start, a)", "edge(a, b)", "edge(c, start)", "edge(d, d)"] + [f"node({n})" for n in "abcd"]
    result = SymbolicRuleEngine(rules, facts).query()
    assert {b["x"] for b in result.find("unreachable(?x)")} == {"c", "d"}
    assert {b["x"] for b in result.find("reachable(?x)")} == {"a", "b"}
    assert result.find("isolated(?x)") == [{"x": "d"}]


def test_proofs_explain_every_derived_fact() -> None:
    result = SymbolicRuleEngine.from_dict(SEED).query(["estOiseau(tux)"])
    proof = result.explain("oncleOuTantePossible(paul, marie)")
    assert proof.source == "derived" and proof.rule is not None and proof.rule.index == 4
    grandparent, parent = proof.premises
    assert str(grandparent.fact) == "estGrandParentDe(jean, marie)" and grandparent.rule.index == 0
    assert [str(p.fact) for p in grandparent.premises] == ["estParentDe(jean, paul)",
                                                            "estParentDe(paul, marie)"]
    assert parent.source == "given" and parent.premises == ()
    penguin = result.explain("estManchot(tux)")
    assert penguin.premises[0].source == "transient"
    assert [str(f) for f in penguin.absent] == ["peutVoler(tux)"]
    for fact in result.derived:
        assert result.explain(fact).fact == fact
    entries = {e["fact"]: e for e in json.loads(json.dumps(result.to_dict()))["derived"]}
    assert entries["oncleOuTantePossible(paul, marie)"]["premises"] == [
        {"fact": "estGrandParentDe(jean, marie)", "source": "derived"},
        {"fact": "estParentDe(jean, paul)", "source": "given"}]
    assert entries["estManchot(tux)"]["absent"] == ["peutVoler(tux)"] and len(entries) == len(result.derived)
    with pytest.raises(RuleError, match="does not hold"):
        result.explain("estManchot(titi)")


def test_a_long_derivation_chain_has_a_proof() -> None:
    engine = SymbolicRuleEngine([{"premises": ["next(?x, ?y)", "reached(?x)"], "conclusion": "reached(?y)"}],
                                ["reached(n0)"] + [f"next(n{i}, n{i + 1})" for i in range(3000)])
    proof = engine.query().explain("reached(n3000)")
    depth = 0
    while proof.premises:
        proof, depth = proof.premises[1], depth + 1
    assert depth == 3000 and str(proof.fact) == "reached(n0)"


def test_transient_facts_never_leak_into_the_next_query() -> None:
    engine = SymbolicRuleEngine.from_dict(SEED)
    assert "estManchot(pingu)" not in derived(engine, ["peutVoler(pingu)"])  # a new fact defeats NOT
    assert "estManchot(robin)" in derived(engine, ["estOiseau(robin)"])
    assert derived(engine) == derived(SymbolicRuleEngine.from_dict(SEED))
    assert engine.facts == tuple(parse_fact(f) for f in SEED["facts"])


def test_assert_and_retract_change_the_persistent_facts() -> None:
    engine = SymbolicRuleEngine.from_dict(SEED)
    assert engine.assert_fact("estParentDe(marie, lea)") and not engine.assert_fact("estParentDe(marie,lea)")
    assert "estGrandParentDe(paul, lea)" in derived(engine)
    assert engine.retract_fact(("estParentDe", ("marie", "lea")))
    assert not engine.retract_fact("estParentDe(marie, lea)")
    assert "estGrandParentDe(paul, lea)" not in derived(engine)
    assert not engine.retract_fact("respireAir(felix)")  # derived, not persistent


def test_the_engine_round_trips_through_its_json_layout() -> None:
    engine = SymbolicRuleEngine.from_dict(SEED)
    engine.assert_fact('estChat("le chat botté")')
    again = SymbolicRuleEngine.from_dict(json.loads(json.dumps(engine.to_dict())))
    assert again.facts == engine.facts and derived(again) == derived(engine)


def random_program(seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Random edges over a few nodes, closure rules of both shapes, and stratified negation on top."""
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(rng.randint(2, 9))]
    facts = [f"e({rng.choice(nodes)}, {rng.choice(nodes)})" for _ in range(rng.randint(0, 14))]
    facts += [f"mark({n})" for n in nodes if rng.random() < 0.4] + [f"node({n})" for n in nodes]
    rules = [{"premises": ["e(?x, ?y)"], "conclusion": "t(?x, ?y)"},
             {"premises": rng.choice([["t(?x, ?y)", "t(?y, ?z)"], ["e(?x, ?y)", "t(?y, ?z)"],
                                      ["t(?x, ?y)", "e(?y, ?z)"]]), "conclusion": "t(?x, ?z)"},
             {"premises": ["t(?x, ?y)", "mark(?y)"], "conclusion": "hits(?x)"},
             {"premises": ["node(?x)", "NOT hits(?x)"], "conclusion": "safe(?x)"},
             {"premises": ["safe(?x)", "t(?x, ?y)", "NOT safe(?y)"], "conclusion": "exposed(?x, ?y)"},
             {"premises": ["t(?x, ?x)"], "conclusion": "cyclic(?x)"},
             {"premises": ["exposed(?x, ?y)", "cyclic(?y)"], "conclusion": "alarm(?x)"}]
    return rules, facts


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6))
def test_semi_naive_and_naive_reach_the_same_fixpoint(seed: int) -> None:
    rules, facts = random_program(seed)
    semi = SymbolicRuleEngine(rules, facts).query()
    naive = SymbolicRuleEngine(rules, facts, strategy="naive").query()
    assert set(semi.derived) == set(naive.derived)
    assert len(semi.derived) == len(set(semi.derived))


def test_bounds_stop_a_runaway_query_with_a_clear_error() -> None:
    facts = [f"edge(n{i}, n{i + 1})" for i in range(60)]
    with pytest.raises(InferenceLimitError, match=r"max_derived_facts=100 .*rules\[1\]"):
        SymbolicRuleEngine(CLOSURE, facts, max_derived_facts=100).query()
    with pytest.raises(InferenceLimitError, match=r"no fixpoint after max_iterations=10 rounds .*path"):
        SymbolicRuleEngine(CLOSURE, facts, max_iterations=10).query()
    assert len(SymbolicRuleEngine(CLOSURE, facts, max_iterations=61).query().derived) == 60 * 61 // 2


def test_the_snips_follow_up_rules() -> None:
    engine = SymbolicRuleEngine.from_json(SNIPS_RULES)
    result = engine.query(["intent(u1, GetWeather)", "slot(u1, timeRange, tomorrow)",
                           "intent(u2, GetWeather)", 'slot(u2, city, "new york")',
                           "intent(u3, BookRestaurant)", "slot(u3, cuisine, thai)",
                           "slot(u3, party_size_number, 4)",
                           "intent(u4, PlayMusic)", "slot(u4, artist, adele)", "uncertain(u4)"])
    assert result.find("ask(u1, ?what)") == [{"what": "location"}]
    assert result.find("ready(?u, ?action)") == [{"u": "u2", "action": "weather.forecast"}]
    assert result.find("ask(u3, ?what)") == [{"what": "timeRange"}]
    assert result.find("assume(u3, ?slot, ?value)") == [{"slot": "location", "value": "nearby"}]
    assert result.find("confirm(u4, ?i)") == [{"i": "PlayMusic"}] and not result.find("ready(u4, ?a)")
    assert not engine.query().derived  # nothing without an utterance


# -- bad input -----------------------------------------------------------------------------------------

def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "facts": ["p(a)",\n  ]\n}')
    with pytest.raises(RuleError, match=r"rules\.json: malformed JSON at line 3, column 3"):
        SymbolicRuleEngine.from_json(path)
    with pytest.raises(RuleError, match="cannot read"):
        SymbolicRuleEngine.from_json(tmp_path / "missing.json")


@pytest.mark.parametrize("data, message", [
    ({"rules": [CLOSURE[0], {"premises": ["p(?x", "q(?x)"], "conclusion": "r(?x)"}]},
     r"rules\[1\] \(\['p\(\?x', 'q\(\?x\)'\] -> 'r\(\?x\)'\): cannot parse 'p\(\?x'"),
    ({"rules": [{"premises": [], "conclusion": "r"}]}, r"rules\[0\].*non-empty list"),
    ({"rules": [{"premises": ["p(?x)"], "conclusion": "r(?x)", "weight": 1}]},
     r"unknown key\(s\) \['weight'\]"),
    ({"facts": ["p(a)", "p(a, b)"]},
     r"predicate 'p' is used with 1 argument\(s\) in facts\[0\] p\(a\) and with 2 in facts\[1\] p\(a, b\)"),
    ({"facts": ["edge(a, b)"], "rules": [{"premises": ["edge(?x)"], "conclusion": "n(?x)"}]},
     r"'edge' is used with 1 argument\(s\) in rules\[0\]"),
    ({"facts": ["p(a)", "p(?x)"]}, r"facts\[1\]: fact 'p\(\?x\)' is not ground"),
    ({"facts": [3]}, r"facts\[0\]: a fact is text"),
    ({"rules": [{"premises": ["p(?x)"], "conclusion": "r(?x, ?y)"}]},
     r"rules\[0\] \(p\(\?x\) -> r\(\?x, \?y\)\): unsafe: variable\(s\) \?y of the conclusion"),
    ({"rules": [{"premises": ["p(?x)", "NOT q(?x, ?z)"], "conclusion": "r(?x)"}]},
     r"unsafe: variable\(s\) \?z of negated premise q\(\?x, \?z\)"),
    ({"rules": [{"premises": ["move(?x, ?y)", "NOT win(?y)"], "conclusion": "win(?x)"}]},
     r"cannot be stratified.*win depends on NOT win \(rules\[0\]\)"),
    ({"rules": [{"premises": ["a(?x)", "NOT q(?x)"], "conclusion": "p(?x)"},
                {"premises": ["p(?x)"], "conclusion": "s(?x)"},
                {"premises": ["s(?x)", "a(?x)"], "conclusion": "q(?x)"}]},
     r"p depends on NOT q \(rules\[0\]\), q depends on s \(rules\[2\]\), s depends on p \(rules\[1\]\)"),
    ([], "expected a JSON object"),
    ({"facts": "p(a)"}, "'facts' must be a list"),
    ({"fact": []}, r"unknown key\(s\) \['fact'\]"),
])
def test_bad_rule_sets_are_refused_at_load(data: Any, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        SymbolicRuleEngine.from_dict(data)


def test_bad_transient_and_asserted_facts() -> None:
    engine = SymbolicRuleEngine.from_dict(SEED)
    with pytest.raises(RuleError, match=r"'estOiseau' is used with 1 argument.*transient_facts\[1\]"):
        engine.query(["estOiseau(a)", "estOiseau(a, b)"])
    with pytest.raises(RuleError, match=r"transient_facts\[0\]: cannot parse"):
        engine.query(["estOiseau(a"])
    with pytest.raises(RuleError, match="asserted fact"):
        engine.assert_fact("miaule(felix, fort)")
    with pytest.raises(RuleError, match="strategy"):
        SymbolicRuleEngine(strategy="magic")  # type: ignore[arg-type]


# -- the JSON schema documents what the loader accepts -----------------------------------------------

def schema_errors(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None,
                  at: str = "$") -> list[str]:
    """The subset of JSON Schema (2020-12) our schema files use; enough to check them against examples."""
    root = root or schema
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_errors(instance, target, root, at)
    types = {"object": dict, "array": list, "string": str, "number": (int, float), "boolean": bool}
    if "type" in schema and (not isinstance(instance, types[schema["type"]])
                             or (schema["type"] == "number" and isinstance(instance, bool))):
        return [f"{at}: not a {schema['type']}"]
    errors: list[str] = []
    if "anyOf" in schema and all(schema_errors(instance, s, root, at) for s in schema["anyOf"]):
        errors.append(f"{at}: matches none of anyOf")
    if isinstance(instance, dict):
        errors += [f"{at}: missing {key}" for key in schema.get("required", []) if key not in instance]
        for key, value in instance.items():
            if key in schema.get("properties", {}):
                errors += schema_errors(value, schema["properties"][key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: unexpected {key}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{at}: fewer than {schema['minItems']} items")
        if schema.get("uniqueItems") and len(set(map(json.dumps, instance))) != len(instance):
            errors.append(f"{at}: repeated items")
        for i, item in enumerate(instance):
            errors += schema_errors(item, schema.get("items", {}), root, f"{at}[{i}]")
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            errors.append(f"{at}: too short")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{at}: does not match {schema['pattern']}")
    if isinstance(instance, int | float) and instance < schema.get("minimum", instance):
        errors.append(f"{at}: below {schema['minimum']}")
    return errors


def test_the_rules_schema_agrees_with_the_examples_and_the_loader() -> None:
    schema = json.loads(RULES_SCHEMA.read_text(encoding="utf-8"))
    for document in (json.loads(SNIPS_RULES.read_text(encoding="utf-8")), SEED,
                     SymbolicRuleEngine.from_json(SNIPS_RULES).to_dict()):
        assert schema_errors(document, schema) == []
        SymbolicRuleEngine.from_dict(document)
    for bad in ({"facts": "p(a)"}, {"rules": [{"premises": []}]},
                {"rules": [{"premises": ["p"], "conclusion": 3}]}, {"extra": 1},
                {"rules": [{"premises": ["p(?x)"], "conclusion": "q(?x)", "weight": 2}]}):
        assert schema_errors(bad, schema)
        with pytest.raises(RuleError):
            SymbolicRuleEngine.from_dict(bad)
