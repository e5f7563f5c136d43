"""How `tem run` orders its runs: what each stage waits for, and that a failure stops only its own month."""

from pipelines import runner
from pipelines.runner import AUDIT, PUBLISH, Stage, StageResult, plan_stages, run_stages


def test_publish_waits_for_the_history_it_reads():
    waits = plan_stages({"acme": ["2026-07", "2026-08", "2026-09"], "globex": ["2026-09"]})
    assert waits[Stage("acme", "2026-07", AUDIT)] == set()
    assert waits[Stage("acme", "2026-07", PUBLISH)] == {Stage("acme", "2026-07", AUDIT)}
    assert waits[Stage("acme", "2026-09", PUBLISH)] == {
        Stage("acme", "2026-09", AUDIT), Stage("acme", "2026-08", AUDIT), Stage("acme", "2026-07", AUDIT),
        Stage("acme", "2026-08", PUBLISH),  # the Trend sheet reads the months before
    }  # fmt: skip
    assert waits[Stage("globex", "2026-09", PUBLISH)] == {Stage("globex", "2026-09", AUDIT)}  # customers apart


def test_a_failed_audit_skips_only_its_own_months_publish(monkeypatch):
    executed = []

    def fake_run(stage):
        executed.append(stage)
        return StageResult(ok=stage != Stage("acme", "2026-08", AUDIT), run_id=f"run-{len(executed)}")

    monkeypatch.setattr(runner, "run_stage", fake_run)
    finished = []
    waits = plan_stages({"acme": ["2026-07", "2026-08", "2026-09"]})
    results = run_stages(waits, workers=1, on_finished=lambda stage, result: finished.append(stage))

    assert Stage("acme", "2026-08", PUBLISH) not in executed
    assert results[Stage("acme", "2026-08", PUBLISH)].ok is False
    assert "audit run failed" in results[Stage("acme", "2026-08", PUBLISH)].problems[0]
    assert results[Stage("acme", "2026-09", PUBLISH)].ok  # the next month still runs (its savings say what is missing)
    assert sorted(finished) == sorted(waits)
    for stage in executed:  # every stage ran after everything it waits for
        assert waits[stage] <= set(finished[: finished.index(stage)]), stage
