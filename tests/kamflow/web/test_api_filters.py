"""The API's filters check their values: 422 naming the field and what exists."""

from __future__ import annotations

from support.web import World


def test_an_unknown_filter_value_is_422_naming_what_exists(world: World) -> None:
    headers = world.as_("ada@x.test")
    r = world.client.get("/api/accounts?state=declned", headers=headers)
    assert r.status_code == 422, r.text
    assert "did you mean declining?" in r.json()["error"]
    r = world.client.get("/api/tasks?assignee=nobody@x.test", headers=headers)
    assert r.status_code == 422, r.text
    assert "unknown person 'nobody@x.test'" in r.json()["error"]
    r = world.client.get("/api/tasks?department=salse", headers=headers)
    assert r.status_code == 422 and "did you mean sales?" in r.json()["error"]
    r = world.client.get("/api/tasks?step=loyal.quartely_plan_review", headers=headers)
    assert r.status_code == 422 and "did you mean loyal.quarterly_plan_review?" in r.json()[
        "error"]
    r = world.client.get("/api/tasks?step=loyal.quarterly_plan_review&status=all",
                         headers=headers)
    assert r.status_code == 200 and {t["step"] for t in r.json()} == {
        "loyal.quarterly_plan_review"}
