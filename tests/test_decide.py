from aimds.config import Settings, Threshold
from aimds.decide.policy import DecisionPolicy
from aimds.types import Action, Finding, Role, Span, ThreatKind


def f(kind, score, detector="d1", span=(0, 4)):
    return Finding(kind=kind, detector=detector, score=score, reason="r", span=Span(*span))


POLICY = DecisionPolicy.from_settings(Settings())


def test_thresholds_map_scores_to_actions():
    assert POLICY.decide([f(ThreatKind.PROMPT_INJECTION, 0.9)], Role.USER).action is Action.BLOCK
    assert POLICY.decide([f(ThreatKind.PROMPT_INJECTION, 0.7)], Role.USER).action is Action.REVIEW
    assert POLICY.decide([f(ThreatKind.PROMPT_INJECTION, 0.2)], Role.USER).action is Action.ALLOW
    assert POLICY.decide([], Role.USER).action is Action.ALLOW


def test_invisible_text_alone_is_sanitized_not_blocked():
    decision = POLICY.decide([f(ThreatKind.INVISIBLE_TEXT, 0.5)], Role.USER)
    assert decision.action is Action.SANITIZE


def test_third_party_instructions_become_indirect_injection():
    decision = POLICY.decide([f(ThreatKind.PROMPT_INJECTION, 0.9)], Role.TOOL_OUTPUT)
    assert decision.findings[0].kind is ThreatKind.INDIRECT_INJECTION
    assert decision.findings[0].metadata["as"] == "prompt_injection"
    assert POLICY.decide([f(ThreatKind.PROMPT_INJECTION, 0.9)], Role.USER).findings[0].kind is ThreatKind.PROMPT_INJECTION


def test_corroborating_detectors_raise_the_score_but_one_detector_twice_does_not():
    two_detectors = [f(ThreatKind.PROMPT_INJECTION, 0.7, "a"), f(ThreatKind.JAILBREAK, 0.7, "b")]
    same_detector = [f(ThreatKind.PROMPT_INJECTION, 0.7, "a"), f(ThreatKind.PROMPT_INJECTION, 0.7, "a", (5, 9))]
    assert POLICY.decide(two_detectors, Role.USER).risk > 0.8
    assert POLICY.decide(same_detector, Role.USER).risk == 0.7


def test_models_trained_on_the_same_data_are_one_witness():
    models = [f(ThreatKind.PROMPT_INJECTION, 0.58, "learned"), f(ThreatKind.PROMPT_INJECTION, 0.5, "semantic")]
    model_and_rule = [f(ThreatKind.PROMPT_INJECTION, 0.58, "learned"), f(ThreatKind.PROMPT_INJECTION, 0.5, "signatures")]
    assert POLICY.decide(models, Role.USER).risk == 0.58
    assert POLICY.decide(models, Role.USER).action is Action.ALLOW
    assert POLICY.decide(model_and_rule, Role.USER).action is Action.REVIEW


def test_system_role_is_capped():
    decision = POLICY.decide([f(ThreatKind.PROMPT_INJECTION, 0.99)], Role.SYSTEM)
    assert decision.action is Action.ALLOW
    assert decision.risk >= 0.99  # the risk is still reported


def test_user_thresholds_override_defaults():
    strict = DecisionPolicy.from_settings(Settings(thresholds={ThreatKind.PROMPT_INJECTION: Threshold(review=0.1, block=0.2)}))
    assert strict.decide([f(ThreatKind.PROMPT_INJECTION, 0.25)], Role.USER).action is Action.BLOCK
